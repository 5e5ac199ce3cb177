"""The operator's own checks: cron values, time zones, holiday countries, references."""

from __future__ import annotations

from taskengine.reconcile import catalog, checks


def test_cron_with_minute_61_is_invalid() -> None:
    [problem] = checks.check_cron("61 * * * *")

    assert problem.reason == "InvalidCron"
    assert problem.message.startswith('spec.cron: "61 * * * *" is not a valid cron expression')


def test_friday_evening_cron_and_macros_are_valid() -> None:
    assert checks.check_cron("0 18 * * 5") == []
    assert checks.check_cron("@daily") == []
    assert checks.check_cron("*/15 9-17 * * mon-fri") == []


def test_time_zones() -> None:
    assert checks.check_time_zone("spec.timeZone", "Europe/Berlin") == []
    assert checks.check_time_zone("spec.timeZone", "Australia/Lord_Howe") == []
    [problem] = checks.check_time_zone("spec.timeZone", "Mars/Olympus")
    assert problem.reason == "InvalidTimeZone" and '"Mars/Olympus"' in problem.message
    assert checks.check_time_zone("spec.timeZone", "../../etc/passwd")[0].reason == "InvalidTimeZone"


def test_holiday_countries_and_subdivisions() -> None:
    from taskengine.api import calendar

    def problems(holidays: dict) -> list[checks.Problem]:
        return checks.check_holidays(calendar.CalendarSpec.model_validate({"holidays": holidays}))

    assert problems({"country": "DE", "subdivision": "BY"}) == []
    assert problems({"country": "de"}) == []
    assert problems({"country": "XX"})[0].reason == "UnknownCountry"
    assert problems({"country": "DE", "subdivision": "ZZ"})[0].reason == "UnknownSubdivision"


def test_catalog_knows_who_refers_to_a_schedule() -> None:
    known = catalog.Catalog()
    body = {
        "metadata": {"name": "power-off", "namespace": "studio", "generation": 1},
        "spec": {
            "action": {"webhook": {"webhookRef": "slack"}},
            "triggers": [{"schedule": "friday-6pm"}, {"event": "session-ended"}],
            "notify": {"onFailure": [{"email": {"smtpSecretRef": "smtp", "to": ["ops@example.com"], "subject": "x"}}]},
        },
    }

    known.put("Task", body)

    task_key = catalog.Key("Task", "studio", "power-off")
    assert known.referrers(catalog.Key("Schedule", "studio", "friday-6pm")) == {task_key}
    assert known.referrers(catalog.Key("EventTrigger", "studio", "session-ended")) == {task_key}
    assert known.referrers(catalog.Key("Webhook", "studio", "slack")) == {task_key}
    assert known.referrers(catalog.Key("Secret", "studio", "smtp")) == {task_key}
    assert known.referrers(catalog.Key("Schedule", "other", "friday-6pm")) == set()

    body["spec"]["triggers"] = []
    body["metadata"]["generation"] = 2
    known.put("Task", body)
    assert known.referrers(catalog.Key("Schedule", "studio", "friday-6pm")) == set()


def test_missing_reference_problem_names_field_kind_and_namespace() -> None:
    known = catalog.Catalog()
    _, entry = known.put("Task", {
        "metadata": {"name": "t", "namespace": "studio"},
        "spec": {"action": {"restart": {}}, "triggers": [{"schedule": "friday-6pm"}]},
    })

    [problem] = checks.check_references(entry, known)

    assert problem.reason == "ReferenceNotFound"
    assert problem.message == 'spec.triggers[0].schedule: Schedule "friday-6pm" not found in namespace "studio"'



def inheritance_catalog(*groups: tuple[str, dict], tasks: tuple[tuple[str, str | None], ...] = (), schedule: dict | None = None) -> catalog.Catalog:
    """A catalog with Schedule "nightly" (spec `schedule`), the given TaskGroups and Tasks (name, group) that list it."""
    known = catalog.Catalog()

    def put(kind: str, name: str, spec: dict) -> None:
        known.put(kind, {"metadata": {"name": name, "namespace": "ops", "generation": 1, "uid": name}, "spec": spec})

    put("Schedule", "nightly", schedule or {"cron": "0 2 * * *"})
    for name, spec in groups:
        put("TaskGroup", name, spec)
    for name, group in tasks:
        put("Task", name, {"action": {"webhook": {"webhookRef": "x"}}, "triggers": [{"schedule": "nightly"}], **({"group": group} if group else {})})
    return known


def schedule_of(known: catalog.Catalog) -> catalog.Entry:
    return known.get(catalog.Key("Schedule", "ops", "nightly"))


def test_a_schedule_takes_the_time_zone_and_calendar_of_its_tasks_group() -> None:
    known = inheritance_catalog(("etl", {"timeZone": "Europe/Berlin", "calendar": "holidays-de"}), tasks=(("load", "etl"), ("ping", None)))
    known.put("Calendar", {"metadata": {"name": "holidays-de", "namespace": "ops"}, "spec": {"holidays": {"country": "DE"}}})

    assert known.schedule_settings(schedule_of(known)) == ("Europe/Berlin", "holidays-de")
    assert checks.check_inherited(schedule_of(known), known) == []


def test_a_group_that_lists_the_schedule_lends_it_too_and_the_schedules_own_setting_wins() -> None:
    lent = inheritance_catalog(("etl", {"timeZone": "Asia/Kolkata", "triggers": [{"schedule": "nightly"}]}))
    own = inheritance_catalog(("etl", {"timeZone": "Asia/Kolkata", "triggers": [{"schedule": "nightly"}]}),
                              schedule={"cron": "0 2 * * *", "timeZone": "UTC"})

    assert lent.schedule_settings(schedule_of(lent)) == ("Asia/Kolkata", None)
    assert own.schedule_settings(schedule_of(own)) == ("UTC", None)


def test_groups_that_disagree_make_the_schedule_name_them() -> None:
    known = inheritance_catalog(("berlin", {"timeZone": "Europe/Berlin"}), ("newyork", {"timeZone": "America/New_York"}),
                                tasks=(("a", "berlin"), ("b", "newyork")))

    [problem] = checks.check_inherited(schedule_of(known), known)

    assert problem.reason == "AmbiguousTimeZone"
    assert problem.message == ("spec.timeZone: not set, and the groups of its tasks set different ones: "
                               "America/New_York (TaskGroup newyork); Europe/Berlin (TaskGroup berlin); set spec.timeZone here")


def test_an_inherited_calendar_or_zone_must_exist() -> None:
    known = inheritance_catalog(("etl", {"timeZone": "Mars/Olympus", "calendar": "nowhere"}), tasks=(("load", "etl"),))

    problems = checks.check_inherited(schedule_of(known), known)

    assert [p.reason for p in problems] == ["InvalidTimeZone", "ReferenceNotFound"]
    assert "inherited from TaskGroup etl" in problems[0].message and '"nowhere"' in problems[1].message

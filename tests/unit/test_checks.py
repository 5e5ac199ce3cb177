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


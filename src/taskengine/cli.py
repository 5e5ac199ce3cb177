"""The `taskengine` command."""

from __future__ import annotations

import argparse
import pathlib
import sys

from taskengine.dev import controlplane


def _repo_crds() -> pathlib.Path:
    return controlplane.REPO_ROOT / "crds"


def cmd_crds(args: argparse.Namespace) -> int:
    from taskengine.api import crdgen

    output = pathlib.Path(args.output)
    files = crdgen.rendered_files()
    if args.check:
        stale = [name for name, text in files.items() if not (output / name).exists() or (output / name).read_text() != text]
        extra = sorted({p.name for p in output.glob("*.yaml")} - set(files))
        for name in stale:
            print(f"{output / name}: differs from the models; run `taskengine crds`", file=sys.stderr)
        for name in extra:
            print(f"{output / name}: no model generates it", file=sys.stderr)
        return 1 if stale or extra else 0
    output.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (output / name).write_text(text)
        print(output / name)
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    import kubernetes

    from taskengine.kube import crds

    with kubernetes.config.new_client_from_config() as client:
        crds.install(client)
    print(f"installed {len(crds.documents())} CRDs")
    return 0


def cmd_operator(args: argparse.Namespace) -> int:
    from taskengine import operator
    from taskengine.settings import Settings

    overrides = {"namespaces": args.namespace} if args.namespace else {}
    operator.run(Settings(**overrides), verbose=args.verbose)
    return 0


def _kube() -> tuple[object, str]:
    """A sync API client for the current kubeconfig, and the context's namespace."""
    import kubernetes

    try:
        _, context = kubernetes.config.list_kube_config_contexts()
        namespace = context.get("context", {}).get("namespace") or "default"
    except (kubernetes.config.ConfigException, TypeError):
        namespace = "default"
    return kubernetes.config.new_client_from_config(), namespace


def cmd_run(args: argparse.Namespace) -> int:
    import datetime
    import json

    import kubernetes

    from taskengine.engine import occurrence
    from taskengine.kube import objects as objects_

    params = {}
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"taskengine: --param {item!r}: expected key=value", file=sys.stderr)
            return 2
        params[key] = value
    api, default_namespace = _kube()
    namespace = args.namespace or default_namespace
    objects = kubernetes.client.CustomObjectsApi(api)
    kind, plural = ("TaskGroup", "taskgroups") if args.group else ("Task", "tasks")
    try:
        found = objects.get_namespaced_custom_object("taskengine.io", "v1alpha1", namespace, plural, args.task)
    except kubernetes.client.ApiException as error:
        print(f"taskengine: {kind} {namespace}/{args.task}: {objects_.api_error_message(error)}", file=sys.stderr)
        return 1
    requested = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")
    annotations = {occurrence.RUN_REQUESTED: requested, occurrence.RUN_PARAMS: json.dumps(params) if params else None}
    objects.patch_namespaced_custom_object(
        "taskengine.io", "v1alpha1", namespace, plural, args.task, {"metadata": {"annotations": annotations}}
    )
    if args.group:
        from taskengine.engine import groups, records

        run = groups.GroupOccurrence(namespace=namespace, group=args.task, group_uid=found["metadata"]["uid"],
                                     trigger_type="Manual", cause=requested).run_name
        print(f"group run {run} (TaskLogs labelled {records.GROUP_RUN_LABEL}={run})")
        return _follow_group(objects, namespace, args.task, run, timeout=args.timeout) if args.wait else 0
    name = occurrence.tasklog_name(args.task, found["metadata"]["uid"], "Manual", requested)
    print(f"tasklog.taskengine.io/{name}")
    if not args.wait:
        return 0
    return _follow(objects, namespace, args.task, name, timeout=args.timeout)


def _follow(objects, namespace: str, task: str, name: str, *, timeout: float) -> int:
    import time

    import kubernetes

    from taskengine.api import tasklog

    deadline = time.monotonic() + timeout
    shown = None
    while time.monotonic() < deadline:
        try:
            log = objects.get_namespaced_custom_object("taskengine.io", "v1alpha1", namespace, "tasklogs", name)
        except kubernetes.client.ApiException as error:
            if error.status != 404:
                raise
            last_run = _last_run(objects, namespace, task)
            if last_run.get("taskLog") == name and last_run.get("phase") in tasklog.FINISHED_PHASES:
                print(f"{last_run['phase']} (the TaskLog is already gone: history limits)")
                return 0 if last_run["phase"] == "Succeeded" else 1
            time.sleep(0.3)
            continue
        status = log.get("status") or {}
        if status.get("phase") != shown:
            shown = status.get("phase")
            if shown and shown not in tasklog.FINISHED_PHASES:
                print(f"  {shown}")
        if shown in tasklog.FINISHED_PHASES:
            print(f"{shown} in {status.get('durationSeconds', 0):.1f}s after {status.get('attempts', 0)} attempt(s): {status.get('message', '')}")
            for target in status.get("targets") or []:
                print(f"  {target['kind']} {target.get('namespace', '')}/{target['name']}: {target['result']} {target.get('message', '')}")
            if status.get("output"):
                print("output: " + status["output"])
            return 0 if shown == "Succeeded" else 1
        time.sleep(0.3)
    print(f"taskengine: {name} did not finish within {timeout:.0f}s", file=sys.stderr)
    return 1


def _follow_group(objects, namespace: str, group: str, run: str, *, timeout: float) -> int:
    """Follows a group run through its members' TaskLogs until every member has finished."""
    import time

    from taskengine.api import tasklog
    from taskengine.engine import groups, records

    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    while time.monotonic() < deadline:
        body = objects.get_namespaced_custom_object("taskengine.io", "v1alpha1", namespace, "taskgroups", group)
        status = body.get("status") or {}
        logs = objects.list_namespaced_custom_object(
            "taskengine.io", "v1alpha1", namespace, "tasklogs", label_selector=f"{records.GROUP_RUN_LABEL}={run}"
        )["items"]
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        if ready.get("status") == "False" and not logs:  # the operator does not run an invalid group
            print(f"taskengine: TaskGroup {namespace}/{group} cannot run: {ready.get('reason')}: {ready.get('message')}", file=sys.stderr)
            return 1
        members = [node["name"] for node in (status.get("graph") or {}).get("nodes", [])]
        phases = {log["spec"]["task"]: (log.get("status") or {}).get("phase") or "Triggered" for log in logs}

        def when(log: dict) -> str:  # changes seen in one poll are shown in the order they happened
            status = log.get("status") or {}
            moment = status.get("completionTime") if status.get("phase") in tasklog.FINISHED_PHASES else status.get("startTime")
            return moment or log["metadata"]["creationTimestamp"]

        for log in sorted(logs, key=when):
            task, phase = log["spec"]["task"], phases[log["spec"]["task"]]
            if shown.get(task) != phase:
                shown[task] = phase
                print(f"  {task}: {phase}")
        last = status.get("lastRun") or {}
        if last.get("run") == run and last.get("phase") not in (None, "Running"):
            print(f"{last['phase']}: {last.get('message', '')}")
            return 0 if last["phase"] == "Succeeded" else 1
        if members and all(phases.get(task) in tasklog.FINISHED_PHASES for task in members):
            phase, message = groups.outcome(phases)
            print(f"{phase}: {message}")
            return 0 if phase == "Succeeded" else 1
        time.sleep(0.5)
    print(f"taskengine: group run {run} did not finish within {timeout:.0f}s", file=sys.stderr)
    return 1


def _last_run(objects, namespace: str, task: str) -> dict:
    import kubernetes

    try:
        found = objects.get_namespaced_custom_object("taskengine.io", "v1alpha1", namespace, "tasks", task)
    except kubernetes.client.ApiException:
        return {}
    return (found.get("status") or {}).get("lastRun") or {}


def cmd_logs(args: argparse.Namespace) -> int:
    import kubernetes

    from taskengine.engine import records

    api, default_namespace = _kube()
    namespace = args.namespace or default_namespace
    listing = kubernetes.client.CustomObjectsApi(api).list_namespaced_custom_object(
        "taskengine.io", "v1alpha1", namespace, "tasklogs", label_selector=f"{records.TASK_LABEL}={records.label_value(args.task)}"
    )
    items = [item for item in listing["items"] if item["spec"]["task"] == args.task]
    items.sort(key=lambda item: item["metadata"]["creationTimestamp"])
    rows = [("STARTED", "TRIGGER", "PHASE", "DURATION", "TASKLOG", "MESSAGE")]
    for item in items:
        status = item.get("status") or {}
        duration = status.get("durationSeconds")
        rows.append((
            status.get("startTime") or item["metadata"]["creationTimestamp"],
            item["spec"]["trigger"]["type"],
            status.get("phase") or "Triggered",
            f"{duration:.1f}s" if duration is not None else "",
            item["metadata"]["name"],
            status.get("message") or "",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[5])
    return 0


def cmd_terminate(args: argparse.Namespace) -> int:
    import datetime

    import kubernetes

    from taskengine.engine import occurrence
    from taskengine.kube import objects as objects_

    api, default_namespace = _kube()
    namespace = args.namespace or default_namespace
    value = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    try:
        kubernetes.client.CustomObjectsApi(api).patch_namespaced_custom_object(
            "taskengine.io", "v1alpha1", namespace, "tasklogs", args.tasklog,
            {"metadata": {"annotations": {occurrence.TERMINATE_REQUESTED: value}}},
        )
    except kubernetes.client.ApiException as error:
        print(f"taskengine: TaskLog {namespace}/{args.tasklog}: {objects_.api_error_message(error)}", file=sys.stderr)
        return 1
    print(f"tasklog.taskengine.io/{args.tasklog} termination requested")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import kubernetes
    import yaml

    from taskengine import simulation

    api, default_namespace = _kube()
    if args.filename:
        with open(args.filename) as handle:
            obj = yaml.safe_load(handle)
        obj.setdefault("metadata", {}).setdefault("namespace", args.namespace or default_namespace)
    else:
        kind, _, name = args.object.partition("/")
        dynamic = kubernetes.dynamic.DynamicClient(api)
        try:
            resource = dynamic.resources.get(api_version=args.api_version, kind=kind)
            obj = resource.get(name=name, namespace=args.namespace or default_namespace).to_dict()
        except (kubernetes.dynamic.exceptions.ResourceNotFoundError, kubernetes.client.ApiException) as error:
            print(f"taskengine: {args.object}: {error}", file=sys.stderr)
            return 1
    matches = simulation.simulate(api, obj, args.event)
    where = f"{obj['metadata'].get('namespace')}/{obj['metadata'].get('name')}"
    if not matches:
        print(f"no EventTrigger watches {obj.get('kind')} {where}")
        return 0
    for match in matches:
        print(f"EventTrigger {match.namespace}/{match.trigger}: {args.event} {obj.get('kind')} {where} {match.reason}")
        for run in match.runs if match.fires else []:
            print(f"  would run Task {run.task}: {run.action}")
            for line in run.text.splitlines():
                print(f"    {line}")
    return 0


def _dev_plane() -> controlplane.ControlPlane:
    return controlplane.ControlPlane(controlplane.cache_dir() / "dev")


def cmd_dev_up(args: argparse.Namespace) -> int:
    from taskengine.dev import local

    plane = _dev_plane()
    if plane.running():
        print(f"already running: export KUBECONFIG={plane.kubeconfig}")
        return 0
    plane.workdir.mkdir(parents=True, exist_ok=True)
    print("starting etcd, kube-apiserver and kube-controller-manager on 127.0.0.1 ...", flush=True)
    plane.start()
    local.install_crds(plane.kubeconfig)
    print(f"control plane ready at {plane.server}; logs in {plane.logs}")
    print(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


def cmd_dev_down(args: argparse.Namespace) -> int:
    plane = _dev_plane()
    was_running = plane.running()
    plane.stop()
    print("stopped" if was_running else "nothing was running")
    return 0


def cmd_dev_env(args: argparse.Namespace) -> int:
    plane = _dev_plane()
    if not plane.running():
        print("no local control plane runs; start one with `taskengine dev up`", file=sys.stderr)
        return 1
    print(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


def cmd_dev_tools(args: argparse.Namespace) -> int:
    print(controlplane.tools_dir())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskengine", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    crds = commands.add_parser("crds", help="write the CRDs generated from the API models")
    crds.add_argument("--output", "-o", default=str(_repo_crds()), help="directory (default: the repo's crds/)")
    crds.add_argument("--check", action="store_true", help="exit 1 when the files differ from the models")
    crds.set_defaults(func=cmd_crds)

    install = commands.add_parser("install", help="create or update the CRDs in the current kubeconfig's cluster")
    install.set_defaults(func=cmd_install)

    operator = commands.add_parser("operator", help="run the operator against the current kubeconfig")
    operator.add_argument("--namespace", "-n", action="append", help="serve only this namespace (repeatable)")
    operator.add_argument("--verbose", "-v", action="store_true")
    operator.set_defaults(func=cmd_operator)

    run = commands.add_parser("run", help="run a task, or with --group a whole TaskGroup, now (sets taskengine.io/run-requested-at)")
    run.add_argument("task", help="the Task (or TaskGroup, with --group)")
    run.add_argument("--group", "-g", action="store_true", help="run the TaskGroup of this name as one dependency graph")
    run.add_argument("--namespace", "-n")
    run.add_argument("--param", "-p", action="append", metavar="KEY=VALUE", help="a template parameter (repeatable)")
    run.add_argument("--wait", "-w", action="store_true", help="follow the run; exit 1 unless it succeeds")
    run.add_argument("--timeout", type=float, default=3600, help="with --wait: give up after this many seconds")
    run.set_defaults(func=cmd_run)

    logs = commands.add_parser("logs", help="the run history of a task")
    logs.add_argument("task")
    logs.add_argument("--namespace", "-n")
    logs.set_defaults(func=cmd_logs)

    terminate = commands.add_parser("terminate", help="stop a running execution")
    terminate.add_argument("tasklog")
    terminate.add_argument("--namespace", "-n")
    terminate.set_defaults(func=cmd_terminate)

    simulate = commands.add_parser("simulate", help="which EventTriggers an object fires and what would run (runs nothing)")
    source = simulate.add_mutually_exclusive_group(required=True)
    source.add_argument("-f", "--filename", help="the object, as YAML")
    source.add_argument("--object", metavar="KIND/NAME", help="a live object")
    simulate.add_argument("--api-version", default="v1", help="with --object: its apiVersion (default v1)")
    simulate.add_argument("--namespace", "-n")
    simulate.add_argument("--event", default="Created", choices=["Created", "Updated", "Deleted"])
    simulate.set_defaults(func=cmd_simulate)

    dev = commands.add_parser("dev", help="a local control plane on 127.0.0.1")
    dev_commands = dev.add_subparsers(dest="dev_command", required=True)
    dev_commands.add_parser("up", help="build (once) and start etcd, kube-apiserver, kube-controller-manager; install the CRDs").set_defaults(func=cmd_dev_up)
    dev_commands.add_parser("down", help="stop it; nothing is left running").set_defaults(func=cmd_dev_down)
    dev_commands.add_parser("env", help="print `export KUBECONFIG=...`").set_defaults(func=cmd_dev_env)
    dev_commands.add_parser("tools", help="build (once) and print the directory of kubectl, helm, ...").set_defaults(func=cmd_dev_tools)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except controlplane.ControlPlaneError as error:
        print(f"taskengine: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The `taskengine` command."""

from __future__ import annotations

import argparse
import pathlib
import subprocess
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

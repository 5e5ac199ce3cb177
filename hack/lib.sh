# Shared set-up for hack/run.sh and hack/test.sh: everything a fresh machine needs,
# installed by the project itself. Sourced, not run.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "hack: need $* but apt-get is not available; install them by hand" >&2
    return 1
  fi
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_python() {
  local python=${PYTHON:-python3}
  if ! command -v "$python" >/dev/null; then apt_install python3 python3-venv python3-pip; fi
  if [ ! -x "$repo/.venv/bin/python" ]; then
    "$python" -m venv "$repo/.venv" 2>/dev/null || { apt_install python3-venv && "$python" -m venv "$repo/.venv"; }
  fi
  local stamp="$repo/.venv/.installed" want
  want=$(sha256sum "$repo/pyproject.toml" | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "hack: installing taskengine and its test dependencies into .venv ..." >&2
    "$repo/.venv/bin/python" -m pip install -q --upgrade pip >&2
    "$repo/.venv/bin/python" -m pip install -q -e "$repo[test]" >&2
    echo "$want" > "$stamp"
  fi
  export PATH="$repo/.venv/bin:$PATH"
}

ensure_go() {
  # Go builds the control plane; an older Go fetches the pinned toolchain through the module proxy.
  if ! command -v go >/dev/null; then apt_install golang-go; fi
  export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
}

ensure_tools() {
  ensure_go
  TASKENGINE_TOOLS=$(bash "$repo/hack/build-tools.sh")
  export TASKENGINE_TOOLS
  export PATH="$TASKENGINE_TOOLS:$PATH"
}

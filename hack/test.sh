#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds (once) the real
# control plane, runs the unit and integration tests. Extra arguments go to pytest.
# TASKENGINE_TEST_KUBECONFIG=<file> runs the integration tests against that cluster instead.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo"

ensure_python
if [ -z "${TASKENGINE_TEST_KUBECONFIG:-}" ]; then
  ensure_tools
fi

status=0
python -m pytest -p no:cacheprovider "$@" || status=$?
if [ "$status" = 5 ]; then
  echo "hack/test.sh: pytest collected no tests; that is a failure here" >&2
  exit 1
fi
exit "$status"

#!/usr/bin/env bash
# The main job: the operator running with the example tasks.
# Without KUBECONFIG, starts a local control plane first (`taskengine dev up`); with it, uses
# that cluster. Ctrl-C stops the operator; `taskengine dev down` stops the local control plane.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo"

ensure_python
ensure_tools
if [ -z "${KUBECONFIG:-}" ]; then
  taskengine dev up
  eval "$(taskengine dev env)"
else
  taskengine install
fi

namespace=${TASKENGINE_DEMO_NAMESPACE:-taskengine-demo}
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -n "$namespace" -f manifests/examples/
# an account for the dashboard and the REST API: it may read and run what is in the namespace
{
  kubectl create serviceaccount dashboard -n "$namespace" --dry-run=client -o yaml
  echo ---
  kubectl create role dashboard -n "$namespace" --dry-run=client -o yaml --verb=get,list,patch \
    --resource=tasks.taskengine.io,taskgroups.taskengine.io,tasklogs.taskengine.io
  echo ---
  kubectl create rolebinding dashboard -n "$namespace" --role=dashboard --serviceaccount="$namespace:dashboard" --dry-run=client -o yaml
} | kubectl apply -f - >/dev/null
echo
echo "examples applied in namespace $namespace; in another shell:"
echo "  export KUBECONFIG=$KUBECONFIG"
echo "  kubectl get taskengine -n $namespace"
echo "  kubectl get tasklogs -n $namespace -w      # the heartbeat example fires every 30 s"
echo "  taskengine run power-on-workstations -n $namespace --wait"
echo "  taskengine run nightly-batch --group -n $namespace --wait   # a TaskGroup as one graph"
echo "  kubectl create token dashboard -n $namespace   # then open http://127.0.0.1:${TASKENGINE_HTTP_PORT:-8081}/dashboard"
echo
exec taskengine operator

#!/usr/bin/env bash
# Builds the real control plane (etcd, kube-apiserver, kube-controller-manager, kubectl) and
# helm from the Go modules pinned in hack/controlplane and hack/helm, into a cache outside
# the repository. A second run with the same pins does nothing. Prints the bin directory.
#
#   TASKENGINE_CACHE   where to keep the binaries (default: ~/.cache/taskengine)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${TASKENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/taskengine}
pins=$(cat "$here"/controlplane/go.mod "$here"/controlplane/go.sum "$here"/helm/go.mod "$here"/helm/go.sum "$0" | sha256sum | cut -c1-16)
bin="$cache/tools/$pins"
tools=(etcd kube-apiserver kube-controller-manager kubectl helm)

if [ -f "$bin/.complete" ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build-tools: Go is needed to build the control plane" >&2; exit 1; }
mkdir -p "$bin"
k8s_version=$(cd "$here/controlplane" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
minor=$(echo "$k8s_version" | cut -d. -f2)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build() {  # name module-dir package
  local name=$1 dir=$2 pkg=$3 started
  [ -x "$bin/$name" ] && { echo "build-tools: $name already built" >&2; return; }
  started=$(date +%s)
  echo "build-tools: building $name ($pkg) ..." >&2
  (cd "$here/$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "build-tools: $name done in $(( $(date +%s) - started ))s" >&2
}

build etcd controlplane go.etcd.io/etcd/server/v3
build kube-apiserver controlplane k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager controlplane k8s.io/kubernetes/cmd/kube-controller-manager
build kubectl controlplane k8s.io/kubernetes/cmd/kubectl
build helm helm helm.sh/helm/v4/cmd/helm
for t in "${tools[@]}"; do [ -x "$bin/$t" ]; done
touch "$bin/.complete"
echo "$bin"

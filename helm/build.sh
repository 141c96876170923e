#!/usr/bin/env bash
# Builds the helm CLI from Go modules (helm.sh/helm/v3/cmd/helm via a wrapper module, through the Go
# module proxy only), cached on disk by version, like cluster/build.sh does for Kubernetes.
#
#   bash helm/build.sh    # prints "helm=<path>" as its last stdout line
#
# Binary: ${GITFAAS_CLUSTER_CACHE:-$HOME/.cache/gitfaas-cluster}/helm-<version>/bin/helm
# Version: GITFAAS_HELM_VERSION (default below). A cached binary is reused (nothing built).
set -euo pipefail

HELM_VERSION="${GITFAAS_HELM_VERSION:-v3.22.0}"
CACHE_ROOT="${GITFAAS_CLUSTER_CACHE:-$HOME/.cache/gitfaas-cluster}"
ROOT="$CACHE_ROOT/helm-$HELM_VERSION"
BIN="$ROOT/bin/helm"

export PATH="/usr/local/go/bin:$PATH"
export CGO_ENABLED=0
# Never let a dependency's "toolchain" line send us off downloading another Go.
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false -p=${GITFAAS_CLUSTER_GO_P:-2}"

log() { printf '[helm-build] %s\n' "$*" >&2; }

if [[ -x "$BIN" ]]; then
  echo "helm=$BIN"
  exit 0
fi

mkdir -p "$ROOT"
exec 9>"$ROOT/.build.lock"
if ! flock -n 9; then log "another build holds $ROOT/.build.lock, waiting"; flock 9; fi
if [[ -x "$BIN" ]]; then echo "helm=$BIN"; exit 0; fi

start=$SECONDS
gomod="$(cd / && go mod download -json "helm.sh/helm/v3@$HELM_VERSION" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
mkdir -p "$ROOT/src"
{
  echo "module gitfaas.local/helm"
  echo
  grep -m1 '^go ' "$gomod"
  echo
  echo "require helm.sh/helm/v3 $HELM_VERSION"
} >"$ROOT/src/go.mod"
# Pin the version on the package: a bare "go get pkg" could pick another helm.
(cd "$ROOT/src" && nice -n 19 go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2)
log "modules ready in $((SECONDS - start))s"

tmp="$ROOT/bin.tmp.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
# As helm's Makefile: the default Kubernetes version of `helm template`/`helm lint` is the one of the
# client-go it is built with (unset, it would be v1.20.0 and fail charts with a kubeVersion).
k8s_minor="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod" | head -n 1)"
[[ -n "$k8s_minor" ]] || { log "no k8s.io/client-go in $gomod"; exit 1; }
ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ld+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ld+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done
(cd "$ROOT/src" && nice -n 19 go build -trimpath -ldflags "$ld" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm)
mkdir -p "$ROOT/bin"
mv "$tmp/helm" "$BIN"
rmdir "$tmp"
log "built helm $HELM_VERSION in $((SECONDS - start))s"
"$BIN" version --short >&2
echo "helm=$BIN"

# shellcheck shell=bash disable=SC2034
# Versions and locations shared by build.sh, up.sh, down.sh (sourced, not run).
KUBE_VERSION="${GITFAAS_KUBE_VERSION:-v1.35.4}"
ETCD_VERSION="${GITFAAS_ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${GITFAAS_KWOK_VERSION:-v0.8.0}"
# "build" (go.etcd.io/etcd/server/v3 from the module proxy) or "debian" (apt etcd-server).
ETCD_SOURCE="${GITFAAS_ETCD_SOURCE:-build}"
CACHE_ROOT="${GITFAAS_CLUSTER_CACHE:-$HOME/.cache/gitfaas-cluster}"
CLUSTER_DIR="${GITFAAS_CLUSTER_DIR:-/tmp/gitfaas-cluster}"
# The state directory as an absolute path (pids in run/), the same for up.sh and down.sh.
STATE="$CLUSTER_DIR"
case "$STATE" in /*) ;; *) STATE="$PWD/$STATE" ;; esac
RUN="$STATE/run"

KUBE_BIN="$CACHE_ROOT/kube-$KUBE_VERSION/bin"
KWOK_BIN="$CACHE_ROOT/kwok-$KWOK_VERSION/bin"
if [[ "$ETCD_SOURCE" == debian ]]; then
  ETCD_BIN_PATH="$(command -v etcd 2>/dev/null || echo /usr/bin/etcd)"
else
  ETCD_BIN_PATH="$CACHE_ROOT/etcd-$ETCD_VERSION/bin/etcd"
fi

print_paths() {
  printf 'kube-apiserver=%s\n' "$KUBE_BIN/kube-apiserver"
  printf 'kube-controller-manager=%s\n' "$KUBE_BIN/kube-controller-manager"
  printf 'kube-scheduler=%s\n' "$KUBE_BIN/kube-scheduler"
  printf 'kubectl=%s\n' "$KUBE_BIN/kubectl"
  printf 'etcd=%s\n' "$ETCD_BIN_PATH"
  printf 'kwok=%s\n' "$KWOK_BIN/kwok"
}

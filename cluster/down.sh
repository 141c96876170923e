#!/usr/bin/env bash
# Stops the processes that cluster/up.sh started (by the pids it recorded) and removes its state
# directory. Safe to run when nothing is up.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh source-path=SCRIPTDIR
source "$HERE/versions.sh"


log() { printf '[cluster] %s\n' "$*" >&2; }

if [[ "${GITFAAS_CLUSTER_LOCK_HELD:-0}" != 1 ]]; then
  mkdir -p "$(dirname "$STATE")"
  exec 8>"$STATE.lock"
  flock 8
fi

# pid recorded for NAME, only if that pid is still the process we started (its command line
# names our state directory), so a recycled pid is never signalled.
our_pid() {
  local f="$RUN/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$STATE" || return 1
  echo "$pid"
}

# The in-tree hostPath provisioner keeps volume data in /tmp/hostpath_pv/<uuid> (a fixed path,
# outside the state dir): remove the directories of this cluster's PVs while its API still answers.
KUBECTL="$STATE/bin/kubectl"
if [[ -x "$KUBECTL" && -f "$STATE/kubeconfig" ]] && our_pid kube-apiserver >/dev/null; then
  while IFS= read -r path; do
    if [[ "$path" =~ ^/tmp/hostpath_pv/[0-9a-f-]+$ ]]; then rm -rf -- "$path"; fi
  done < <("$KUBECTL" --kubeconfig "$STATE/kubeconfig" --request-timeout=5s get pv \
    -o jsonpath='{range .items[*]}{.spec.hostPath.path}{"\n"}{end}' 2>/dev/null || true)
fi

# Reverse start order: the fake kubelet and controllers first, etcd last.
for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  pid="$(our_pid "$name")" || continue
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    [[ -d "/proc/$pid" ]] || break
    # a zombie child of an exited shell counts as gone
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]] && break
    sleep 0.1
  done
  if [[ -d "/proc/$pid" ]] && our_pid "$name" >/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  log "stopped $name (pid $pid)"
done

if [[ -d "$STATE" ]]; then
  rm -rf "$STATE"
  log "removed $STATE"
fi

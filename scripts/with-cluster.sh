#!/usr/bin/env bash
# Runs a command with KUBECONFIG pointing at the local control plane, starting it if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
kubeconfig_line="$(bash cluster/up.sh | tail -n 1)"
case "$kubeconfig_line" in
  KUBECONFIG=/*) export "${kubeconfig_line?}" ;;
  *) echo "cluster/up.sh did not end with KUBECONFIG=<path>: $kubeconfig_line" >&2; exit 1 ;;
esac
exec "$@"

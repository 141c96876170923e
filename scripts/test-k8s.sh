#!/usr/bin/env bash
# End-to-end tests of the kubernetes runtime against the local control plane (cluster/).
# The cluster is stopped afterwards unless GITFAAS_KEEP_CLUSTER=1 (handy while iterating).
set -euo pipefail
cd "$(dirname "$0")/.."

up_output="$(bash cluster/up.sh)"
kubeconfig_line="$(printf '%s\n' "$up_output" | tail -n 1)"
case "$kubeconfig_line" in
  KUBECONFIG=/*) export "${kubeconfig_line?}" ;;
  *) echo "cluster/up.sh did not end with KUBECONFIG=<path>: $kubeconfig_line" >&2; exit 1 ;;
esac
if [ "${GITFAAS_KEEP_CLUSTER:-}" != "1" ]; then
  trap 'bash cluster/down.sh >/dev/null 2>&1 || true' EXIT
fi
node scripts/run-tests.mjs test-k8s

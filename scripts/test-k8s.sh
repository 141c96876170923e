#!/usr/bin/env bash
# End-to-end tests of the kubernetes runtime against the local control plane (cluster/).
# The cluster is stopped afterwards unless GITFAAS_KEEP_CLUSTER=1 (handy while iterating).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${GITFAAS_KEEP_CLUSTER:-}" != "1" ]; then
  trap 'bash cluster/down.sh >/dev/null 2>&1 || true' EXIT
fi
bash scripts/with-cluster.sh node scripts/run-tests.mjs test-k8s

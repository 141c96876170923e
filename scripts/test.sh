#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, then checks and tests everything.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node.js 24 LTS for everything below (fetched into a cache when the machine's node is older).
# shellcheck source=node-runtime.sh
source scripts/node-runtime.sh
bash scripts/install-test-deps.sh
npm ci --no-audit --no-fund
npm run typecheck
npm run lint
npm run format:check
npm run build
node scripts/run-tests.mjs test
# The kubernetes runtime against a real control plane built from Go modules (cached by version).
npm run test:k8s

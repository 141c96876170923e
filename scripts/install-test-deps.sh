#!/usr/bin/env bash
# Installs what the tests need beyond npm packages, from Debian's packages, only when missing.
set -euo pipefail

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# test/lambda-packages.test.ts makes virtual environments; Debian's python3 needs python3-venv for that
# (ensurepip). Probed by making one, unless the cached build environment shows it worked here before.
venv_works() {
  local dir status=0
  dir="$(mktemp -d)"
  python3 -m venv "$dir/venv" >/dev/null 2>&1 || status=$?
  rm -rf "$dir"
  return "$status"
}
if ! command -v python3 >/dev/null 2>&1; then
  missing+=(python3-venv)
elif ! compgen -G "${GITFAAS_PYTHON_CACHE:-$HOME/.cache/gitfaas-python}/build-*/.complete" >/dev/null && ! venv_works; then
  missing+=(python3-venv)
fi
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
# The dashboard's tests drive Debian's Chromium (playwright-core, no browser download).
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# PyPA's build and flit_core in a cached virtual environment, to build packages/lambda-python's wheel.
bash "$(dirname "$0")/python-build-env.sh" >/dev/null

#!/usr/bin/env bash
# Prints the python of a virtual environment holding PyPA's `build` and the package's build backend
# (flit_core), made once under $GITFAAS_PYTHON_CACHE (default ~/.cache/gitfaas-python) per pinned version.
# test/lambda-packages.test.ts builds packages/lambda-python's wheel with it (`python -m build --no-isolation`,
# so no download per run). Needs `python3 -m venv` (Debian: python3-venv, see install-test-deps.sh).
set -euo pipefail
BUILD_VERSION=1.6.1
FLIT_CORE_VERSION=4.2.0
home="${GITFAAS_PYTHON_CACHE:-$HOME/.cache/gitfaas-python}/build-$BUILD_VERSION-flit_core-$FLIT_CORE_VERSION"
# .complete is written last: an interrupted set-up is made again.
if [ ! -f "$home/.complete" ]; then
  echo "making $home (build $BUILD_VERSION, flit_core $FLIT_CORE_VERSION from PyPI)" >&2
  rm -rf "$home"
  python3 -m venv "$home"
  "$home/bin/python" -m pip install --quiet --disable-pip-version-check \
    "build==$BUILD_VERSION" "flit_core==$FLIT_CORE_VERSION"
  touch "$home/.complete"
fi
echo "$home/bin/python"

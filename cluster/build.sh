#!/usr/bin/env bash
# Builds the local control plane's binaries from Go modules, cached on disk by version.
#
#   bash cluster/build.sh            # everything (kube, etcd, kwok)
#   bash cluster/build.sh kube etcd  # only some components
#
# Binaries land in ${GITFAAS_CLUSTER_CACHE:-$HOME/.cache/gitfaas-cluster}/<component>-<version>/bin.
# A component whose binaries all exist is skipped. GOCACHE/GOMODCACHE keep Go's defaults so they
# are reused between runs. Prints nothing on stdout but "<name>=<path>" lines for the built tools.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh source-path=SCRIPTDIR
source "$HERE/versions.sh"

export PATH="/usr/local/go/bin:$PATH"
export CGO_ENABLED=0
# Never let a dependency's "toolchain" line send us off downloading another Go.
export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false"
GO_PARALLEL="${GITFAAS_CLUSTER_GO_P:-2}"

log() { printf '[build] %s\n' "$*" >&2; }

# go.mod of MODULE@VERSION as the proxy serves it (path on disk, downloaded into GOMODCACHE).
served_gomod() {
  local json
  json="$(cd / && go mod download -json "$1@$2")"
  printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'
}

# Prints replace directives for a wrapper module: every replace in the served go.mod that points
# at a local directory (./staging/..., ../api) becomes "<module> => <module> <PINNED>", where
# PINNED is $3. Lines pointing at FORBIDDEN_DEPENDENCY or other modules are dropped.
local_replaces_as_versions() {
  local gomod="$1" pinned="$2"
  awk -v pinned="$pinned" '
    /^replace[[:space:]]*\($/ { inblock = 1; next }
    inblock && /^\)/ { inblock = 0; next }
    {
      line = $0
      if (!inblock) { if (line !~ /^replace[[:space:]]/) next; sub(/^replace[[:space:]]+/, "", line) }
      n = split(line, f, /[[:space:]]+/)
      # fields: [""] mod [ver] => target [ver]
      i = 1; if (f[1] == "") i = 2
      mod = f[i]; arrow = (f[i+1] == "=>") ? i+1 : i+2
      target = f[arrow+1]
      if (target ~ /^\.\.?\// && target !~ /FORBIDDEN/) printf "\t%s => %s %s\n", mod, mod, pinned
    }' "$gomod"
}

# Builds MAIN packages from wrapper module in DIR into OUTDIR (atomically, via a temp dir).
# usage: go_build_into DIR OUTDIR LDFLAGS PKG...
go_build_into() {
  local dir="$1" out="$2" ldflags="$3"; shift 3
  local tmp="$out.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  local start=$SECONDS
  (cd "$dir" && nice -n 19 go build -p "$GO_PARALLEL" -trimpath -ldflags "$ldflags" -o "$tmp/" "$@")
  mkdir -p "$out"
  mv "$tmp"/* "$out"/
  rmdir "$tmp"
  log "built $(cd "$out" && echo *) in $((SECONDS - start))s"
}

have_all() { local d="$1"; shift; local b; for b in "$@"; do [[ -x "$d/$b" ]] || return 1; done; }

build_kube() {
  local v="$KUBE_VERSION" root="$CACHE_ROOT/kube-$KUBE_VERSION"
  local bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  if have_all "$root/bin" "${bins[@]}"; then log "kube $v cached"; return; fi
  log "kube $v: generating wrapper module in $root/src"
  local minor patch major staging
  major="${v#v}"; major="${major%%.*}"
  minor="$(echo "$v" | cut -d. -f2)"; patch="$(echo "$v" | cut -d. -f3)"
  staging="v0.$minor.$patch"
  local gomod; gomod="$(served_gomod k8s.io/kubernetes "$v")"
  local goline; goline="$(grep -m1 '^go ' "$gomod")"
  mkdir -p "$root/src"
  {
    echo "module gitfaas.local/cluster/kube"
    echo
    echo "$goline"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    local_replaces_as_versions "$gomod" "$staging"
    echo ")"
  } > "$root/src/go.mod"
  log "kube $v: $(grep -c '=>' "$root/src/go.mod") staging replaces pinned at $staging"
  local pkgs=()
  local b; for b in "${bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  # Pin the version on each package: a bare "go get pkg" would upgrade k8s.io/kubernetes.
  (cd "$root/src" && nice -n 19 go get "${pkgs[@]/%/@$v}" >&2)
  local date; date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local ld="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  go_build_into "$root/src" "$root/bin" "$ld" "${pkgs[@]}"
}

build_etcd() {
  if [[ "$ETCD_SOURCE" == debian ]]; then
    if ! command -v etcd >/dev/null 2>&1; then
      log "installing Debian etcd-server"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q etcd-server >&2
    fi
    return
  fi
  local v="$ETCD_VERSION" root="$CACHE_ROOT/etcd-$ETCD_VERSION"
  if have_all "$root/bin" etcd; then log "etcd $v cached"; return; fi
  local gomod; gomod="$(served_gomod go.etcd.io/etcd/server/v3 "$v")"
  mkdir -p "$root/src"
  {
    echo "module gitfaas.local/cluster/etcd"
    echo
    grep -m1 '^go ' "$gomod"
    echo
    echo "require go.etcd.io/etcd/server/v3 $v"
    echo
    echo "replace ("
    local_replaces_as_versions "$gomod" "$v"
    echo ")"
  } > "$root/src/go.mod"
  (cd "$root/src" && nice -n 19 go get "go.etcd.io/etcd/server/v3@$v" >&2)
  local ld="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=gitfaas"
  go_build_into "$root/src" "$root/bin.build" "$ld" go.etcd.io/etcd/server/v3
  mkdir -p "$root/bin"; mv "$root/bin.build/v3" "$root/bin/etcd" 2>/dev/null || mv "$root/bin.build/server" "$root/bin/etcd"
  rm -rf "$root/bin.build"
}

build_kwok() {
  local v="$KWOK_VERSION" root="$CACHE_ROOT/kwok-$KWOK_VERSION"
  if have_all "$root/bin" kwok; then log "kwok $v cached"; return; fi
  local gomod; gomod="$(served_gomod sigs.k8s.io/kwok "$v")"
  mkdir -p "$root/src"
  {
    echo "module gitfaas.local/cluster/kwok"
    echo
    grep -m1 '^go ' "$gomod"
    echo
    echo "require sigs.k8s.io/kwok $v"
  } > "$root/src/go.mod"
  (cd "$root/src" && nice -n 19 go get "sigs.k8s.io/kwok/cmd/kwok@$v" >&2)
  local ld="-s -w"
  go_build_into "$root/src" "$root/bin" "$ld" sigs.k8s.io/kwok/cmd/kwok
}

main() {
  local comps=("$@")
  [[ ${#comps[@]} -gt 0 ]] || comps=(kube etcd kwok)
  mkdir -p "$CACHE_ROOT"
  # One build at a time per cache (up.sh may call us while a background build runs).
  exec 9>"$CACHE_ROOT/.build.lock"
  if ! flock -n 9; then log "another build holds $CACHE_ROOT/.build.lock, waiting"; flock 9; fi
  local c t
  for c in "${comps[@]}"; do
    t=$SECONDS
    case "$c" in
      kube) build_kube ;;
      etcd) build_etcd ;;
      kwok) build_kwok ;;
      *) log "unknown component $c (kube, etcd, kwok)"; exit 2 ;;
    esac
    log "$c done in $((SECONDS - t))s (module download + build, or cache hit)"
  done
  print_paths
}

main "$@"

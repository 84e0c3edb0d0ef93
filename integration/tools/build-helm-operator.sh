#!/usr/bin/env bash
# Builds Operator SDK's helm-operator, the peer `just bench-peers` measures
# Lostrómos against, from its Go module at the version pinned in versions.env,
# once per version, into $LOSTROMOS_CACHE (default ~/.cache/lostromos):
#   helm-operator-<v>/helm-operator
# Go's own module and build caches are reused, so a second version builds
# faster. Idempotent. Prints the binary's path on the last line of its output.
#
# `go install module@version` refuses a module whose go.mod has replace
# directives, and operator-sdk's has some. So the build happens in a throwaway
# wrapper module that requires operator-sdk at the pinned version, copies its
# replace lines (they only apply in the main module) and starts from its go.sum
# (both read from the module the Go proxy serves; nothing is vendored here).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${LOSTROMOS_CACHE:-$HOME/.cache/lostromos}
mkdir -p "$cache"
log() { printf 'build-helm-operator: %s\n' "$*" >&2; }
command -v go >/dev/null || { log "missing 'go': install Go (https://go.dev) or apt-get install golang"; exit 1; }
command -v flock >/dev/null || { log "missing 'flock': install util-linux"; exit 1; }

module=github.com/operator-framework/operator-sdk
version=v$OPERATOR_SDK_VERSION
out="$cache/helm-operator-$OPERATOR_SDK_VERSION/helm-operator"

# One build at a time (two bench runs started together wait for each other).
exec 9>"$cache/.helm-operator.lock"
flock 9

if [[ -x $out ]] && "$out" version 2>/dev/null | grep -q "\"$version\""; then
    log "ready: $("$out" version)"
    echo "$out"
    exit 0
fi

log "downloading $module@$version"
# Fields of the module: its go.mod, its source folder (holds go.sum) and sums.
info=$(go mod download -json "$module@$version")
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" <<<"$info"; }
gomod=$(field GoMod)
dir=$(field Dir)
sum=$(field Sum)
gomodsum=$(field GoModSum)
commit=$(field Hash)
[[ -f $gomod && -f $dir/go.sum && -n $sum ]] || { log "unexpected 'go mod download' answer: $info"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
{
    echo "module lostromos.dev/bench/helm-operator"
    echo
    # the Go language version operator-sdk declares
    grep -m1 '^go ' "$gomod"
    echo
    echo "require $module $version"
    echo
    # operator-sdk's replace directives: a block, or single lines
    awk '/^replace \($/ {inside=1; print; next}
         inside && /^\)$/ {inside=0; print; next}
         inside || /^replace [^(]/ {print}' "$gomod"
} >go.mod
cp "$dir/go.sum" go.sum
chmod u+w go.sum
printf '%s %s %s\n%s %s/go.mod %s\n' "$module" "$version" "$sum" "$module" "$version" "$gomodsum" >>go.sum
log "building $module/cmd/helm-operator $version (a cold build takes several minutes)"
# What operator-sdk's Makefile stamps into its binaries (`helm-operator version`).
vpkg=$module/internal/version
ldflags="-X '$vpkg.Version=$version' -X '$vpkg.GitVersion=$version' -X '$vpkg.ImageVersion=$version' -X '$vpkg.GitCommit=${commit:-unknown}'"
mkdir -p "$(dirname "$out")"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$module/cmd/helm-operator"
mv "$out.tmp" "$out"
log "ready: $("$out" version)"
echo "$out"

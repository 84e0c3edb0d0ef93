#!/usr/bin/env bash
# Starts a local control plane (etcd + kube-apiserver, no nodes) in .cluster/
# with lostromos-testenv, in the background, and prints how to use it.
# Idempotent: when it already runs, it just says so.
#   LOSTROMOS_PROFILE=debug   use a debug build of lostromos-testenv
#   CLUSTER_TIMEOUT=SECONDS   how long to wait for it to be ready (default 180)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

print_usage() {
    note "export KUBECONFIG=$kubeconfig"
    note "kubectl: $cluster_dir/bin/kubectl -> $(readlink "$cluster_dir/bin/kubectl")"
    note "helm:    $cluster_dir/bin/helm -> $(readlink "$cluster_dir/bin/helm")"
    note "(or: export PATH=$cluster_dir/bin:\$PATH)"
    note "its log: $cluster_dir/testenv.log; stop it with: just cluster-down"
}

if testenv_running && [[ -f $kubeconfig ]] && grep -q '^ready: ' "$cluster_dir/testenv.log" 2>/dev/null; then
    say "The cluster already runs (pid $(cat "$cluster_dir/testenv.pid")): nothing to do"
    print_usage
    exit 0
fi

# The demo scripts have built everything and exported the binaries' paths.
if [[ -z ${LOSTROMOS_DEMO_PREPARED:-} ]]; then
    say "Building lostromos-testenv ($profile)"
    cargo build "${cargo_profile_flag[@]}" -p testenv --bin lostromos-testenv

    say "Fetching kube-apiserver, etcd, helm and kubectl into ${LOSTROMOS_CACHE:-~/.cache/lostromos}"
    load_binaries
fi

mkdir -p "$cluster_dir/bin"
ln -sfn "$LOSTROMOS_KUBECTL" "$cluster_dir/bin/kubectl"
ln -sfn "$LOSTROMOS_HELM4" "$cluster_dir/bin/helm"

if testenv_running; then
    say "lostromos-testenv already starts (pid $(cat "$cluster_dir/testenv.pid")); waiting for it"
else
    say "Starting etcd + kube-apiserver in the background (log: .cluster/testenv.log)"
    rm -f "$kubeconfig" "$kubeconfig.unprivileged"
    start_detached "$cluster_dir/testenv.log" "$cluster_dir/testenv.spawn.pid" \
        "$bin_dir/lostromos-testenv" up --kubeconfig "$kubeconfig" --dir "$cluster_dir"
fi
spawned=$(cat "$cluster_dir/testenv.spawn.pid" 2>/dev/null || true)
rm -f "$cluster_dir/testenv.spawn.pid"

deadline=$((SECONDS + ${CLUSTER_TIMEOUT:-180}))
until grep -q '^ready: ' "$cluster_dir/testenv.log" 2>/dev/null; do
    if [[ -n $spawned ]] && ! pid_is "$spawned" lostromos-testenv; then
        tail -n 30 "$cluster_dir/testenv.log" >&2 || true
        die "lostromos-testenv exited before it was ready (log above: $cluster_dir/testenv.log)"
    fi
    if ((SECONDS >= deadline)); then
        tail -n 30 "$cluster_dir/testenv.log" >&2 || true
        die "the cluster was not ready within ${CLUSTER_TIMEOUT:-180}s (log: $cluster_dir/testenv.log); stop it with: just cluster-down"
    fi
    sleep 0.5
done
grep '^ready: ' "$cluster_dir/testenv.log" | tail -n 1 | sed 's/^/    /'
"$LOSTROMOS_KUBECTL" --kubeconfig "$kubeconfig" get --raw /readyz >/dev/null ||
    die "the API server does not answer /readyz (log: $cluster_dir/testenv.log)"

say "The cluster is up. To use it from your shell:"
print_usage

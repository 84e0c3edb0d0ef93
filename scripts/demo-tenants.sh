#!/usr/bin/env bash
# The tenants demo (examples/tenants), end to end on a local control plane:
# every Tenant CR becomes a release of the podinfo chart, its spec being the
# values, between platform defaults (--values) and forced values
# (--override-values). Leaves the cluster and lostromos running.
#   LOSTROMOS_PROFILE=debug   use debug builds (faster to build, same behaviour)
#   DEMO_TIMEOUT=SECONDS      how long to wait for each effect (default 120)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
timeout=${DEMO_TIMEOUT:-120}
example=examples/tenants

demo_prepare

say "Installing the Tenant CRD ($example/crd.yaml, generated from podinfo's values by \`just crds\`)"
show kubectl apply -f $example/crd.yaml
kubectl wait --for=condition=Established --timeout="${timeout}s" crd/tenants.platform.example.com >/dev/null

demo_start_lostromos lostromos-tenants \
    --group platform.example.com --version v1alpha1 --kind Tenant \
    --chart $example/chart --values-layout spec \
    --values $example/platform-values.yaml --override-values $example/override-values.yaml

say "Creating three Tenants: acme, globex, initech ($example/tenants/)"
show kubectl apply -f $example/tenants/

say "Waiting for lostromos to install a podinfo release for each (at most ${timeout}s each)"
for name in acme globex initech; do wait_deployed tenant "$name"; done
say "Deployed, but Ready waits for the objects: the Message column names what is not ready yet"
show kubectl get tenants -o wide
say "No kubelet here, so the demo plays the Deployment controller: every Deployment becomes available"
play_deployments_available
for name in acme globex initech; do wait_ready tenant "$name"; done
note "all three are Ready"

say "The Tenants"
show kubectl get tenants

say "Two Tenants the API server refuses: replicaCount as a string, and a ui field podinfo does not have"
note "The CRD's schema comes from the chart's values (lostromos crd), so the API server checks a Tenant before any helm runs."
# refused NAME SPEC WHAT: applies Tenant NAME with SPEC (JSON), which must fail naming WHAT
refused() {
    local cr="{\"apiVersion\":\"platform.example.com/v1alpha1\",\"kind\":\"Tenant\",\"metadata\":{\"name\":\"$1\"},\"spec\":$2}"
    local out
    printf "%s\$ kubectl apply -f - <<< '%s'%s\n" "$dim" "$cr" "$off"
    if out=$(kubectl apply -f - <<<"$cr" 2>&1); then
        die "the API server accepted the invalid Tenant $1: $out"
    fi
    printf '%s\n' "$out"
    [[ $out == *"$3"* ]] || die "kubectl failed, but not with the schema's refusal of $3"
}
refused hooli '{"replicaCount":"three"}' spec.replicaCount
refused vandelay '{"ui":{"colour":"#ff0000"}}' spec.ui.colour
note "refused, as expected: no Tenant hooli or vandelay, no release"
say "The releases"
show helm list
say "What podinfo made of acme's spec (no nodes here, so no pods run)"
show kubectl get deployments,services -l app.kubernetes.io/managed-by=Helm

say "acme changes its message; globex leaves"
show kubectl patch tenant acme --type merge -p '{"spec":{"ui":{"message":"hi from the demo"}}}'
show kubectl delete tenant globex --wait=false

say "Waiting for the upgrade (acme Ready at its new generation) and the uninstall (globex gone)"
wait_deployed tenant acme
play_deployments_available
wait_ready tenant acme
wait_gone tenant globex
helm get values acme -o json | grep -q '"message":"hi from the demo"' ||
    die "the acme release's values lack the new message"
helm get values acme --all -o json | grep -q '"repository":"ghcr.io/stefanprodan/podinfo"' ||
    die "the acme release's values lack the forced image"

say "The Tenants now"
show kubectl get tenants
say "The releases now (no globex)"
show helm list
say "acme's release history"
show helm history acme
say "acme's values: platform-values.yaml, then the Tenant's spec, then override-values.yaml, merged"
show helm get values acme

say "Done in $((SECONDS - demo_started))s. Everything keeps running, so look around:"
note "export KUBECONFIG=$kubeconfig PATH=$cluster_dir/bin:\$PATH"
note "kubectl get tenants; helm list; helm get values acme --all"
note "lostromos's log: .cluster/lostromos-tenants.log; the cluster's: .cluster/testenv.log"
say "Stop everything with: just cluster-down"

#!/usr/bin/env bash
# The characters demo (examples/characters), end to end on a local control
# plane: every Character CR becomes a helm release; an update upgrades it, a
# delete uninstalls it. Leaves the cluster and lostromos running to look around.
#   LOSTROMOS_PROFILE=debug   use debug builds (faster to build, same behaviour)
#   DEMO_TIMEOUT=SECONDS      how long to wait for each effect (default 120)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
timeout=${DEMO_TIMEOUT:-120}
example=examples/characters

demo_prepare

say "Installing the Character CRD ($example/crd.yaml)"
show kubectl apply -f $example/crd.yaml
kubectl wait --for=condition=Established --timeout="${timeout}s" crd/characters.stable.nicolerenee.io >/dev/null

demo_start_lostromos lostromos \
    --group stable.nicolerenee.io --version v1 --kind Character \
    --chart $example/chart --values-layout resource

say "Creating three Characters: nemo ($example/crs/nemo.yaml), thing1 and thing2 (things.yaml)"
show kubectl apply -f $example/crs/nemo.yaml -f $example/crs/things.yaml

say "Waiting for lostromos to install a release for each (at most ${timeout}s each)"
for name in nemo thing1 thing2; do wait_deployed character "$name"; done
say "Deployed, but Ready waits for the objects: the Details column names what is not ready yet"
show kubectl get characters -o wide
say "No kubelet here, so the demo plays the Deployment controller: every Deployment becomes available"
play_deployments_available
for name in nemo thing1 thing2; do wait_ready character "$name"; done
note "all three are Ready"

say "The Characters: Ready, and the release each one got"
show kubectl get characters
say "The releases, as helm sees them"
show helm list
say "The values lostromos gave the nemo release (the CR under .Values.resource)"
show helm get values nemo
say "What the chart made of them (no nodes here, so no pods run)"
show kubectl get deployments,configmaps -l app.kubernetes.io/managed-by=Helm

say "Updating nemo ($example/crs/nemo-update.yaml adds For: Reasons) and deleting thing2"
show kubectl apply -f $example/crs/nemo-update.yaml
show kubectl delete character thing2 --wait=false

say "Waiting for the upgrade (nemo Ready at its new generation) and the uninstall (thing2 gone)"
wait_deployed character nemo
play_deployments_available
wait_ready character nemo
wait_gone character thing2
revision=$(kubectl get character nemo -o jsonpath='{.status.release.revision}')
[[ $revision -ge 2 ]] || die "nemo is Ready but its release is at revision '$revision', not upgraded"
helm get values nemo -o json | grep -q '"For":"Reasons"' || die "the nemo release's values lack For: Reasons"
note "nemo: upgraded to revision $revision; thing2: CR and release gone"

say "The Characters now"
show kubectl get characters
say "The releases now (no thing2)"
show helm list
say "nemo's release history (install, then upgrade)"
show helm history nemo

say "Done in $((SECONDS - demo_started))s. Everything keeps running, so look around:"
note "export KUBECONFIG=$kubeconfig PATH=$cluster_dir/bin:\$PATH"
note "kubectl get characters; helm list; helm get values nemo"
note "kubectl apply -f $example/crs/nemo.yaml    # and watch lostromos upgrade it again"
note "lostromos's log: .cluster/lostromos.log (tail -f it); the cluster's: .cluster/testenv.log"
say "Stop everything with: just cluster-down"

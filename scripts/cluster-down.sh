#!/usr/bin/env bash
# Stops what the demo and cluster-up started in .cluster/: lostromos (pid files
# .cluster/lostromos*.pid), then the control plane (lostromos-testenv down).
# Idempotent: says one line and succeeds when nothing runs.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stopped=
for pidfile in "$cluster_dir"/lostromos*.pid; do
    [[ -e $pidfile ]] || continue
    running_pid "$pidfile" lostromos >/dev/null && stopped=1
    stop_pidfile "$pidfile" lostromos
done

if pid=$(running_pid "$cluster_dir/testenv.pid" lostromos-testenv); then
    stopped=1
    note "stopping the cluster (lostromos-testenv pid $pid)"
    testenv=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)
    if [[ -x $testenv ]]; then
        "$testenv" down --dir "$cluster_dir" --timeout 60
    else
        stop_pidfile "$cluster_dir/testenv.pid" lostromos-testenv
    fi
else
    rm -f "$cluster_dir/testenv.pid"
fi
rm -f "$kubeconfig" "$kubeconfig.unprivileged"

if [[ -n $stopped ]]; then
    note "stopped; the logs stay in $cluster_dir/*.log"
else
    note "nothing runs in $cluster_dir"
fi

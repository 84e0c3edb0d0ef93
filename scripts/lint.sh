#!/usr/bin/env bash
# The static checks: rustfmt, clippy (warnings are errors), helm lint of every
# chart in the repository with the pinned helm 4, and hadolint of the Dockerfile.
# Sourced by test.sh (which times each step); run alone by `just lint`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The charts: charts/* (the project's own), examples/*/chart, and the
# integration suite's (integration/charts/broken passes lint by design: it
# fails only when installed).
charts() {
    local dir
    for dir in charts/*/ examples/*/chart/ integration/charts/*/; do
        [[ -f $dir/Chart.yaml ]] && echo "${dir%/}"
    done
    return 0
}

lint_fmt() { show cargo fmt --all -- --check; }
lint_clippy() { show cargo clippy --workspace --all-targets -- -D warnings; }
lint_charts() {
    [[ -n ${LOSTROMOS_HELM4:-} ]] || load_binaries
    local list
    mapfile -t list < <(charts)
    ((${#list[@]} > 0)) || die "no charts found"
    show "$LOSTROMOS_HELM4" lint "${list[@]}"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    say "cargo fmt --check"
    lint_fmt
    say "cargo clippy (warnings are errors)"
    lint_clippy
    say "helm lint of every chart (helm 4)"
    lint_charts
    say "hadolint Dockerfile"
    bash "$(dirname "${BASH_SOURCE[0]}")/lint-docker.sh"
    say "lint: all clean"
fi

#!/usr/bin/env bash
# The example CRDs that `lostromos crd` generates from their charts (`just
# crds`): regenerates each file below from its chart, so a CRD follows its
# chart's values. `--check` changes nothing and fails, naming the files, when a
# committed one differs from what `lostromos crd` prints now (the integration
# test `committed_example_crds_are_what_lostromos_crd_prints` runs it).
#   LOSTROMOS_BIN=PATH   the lostromos binary to use (default: build one, per
#                        LOSTROMOS_PROFILE)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# FILE|ARGUMENTS OF `lostromos crd` (run from the repository root: the CRD's
# header names the chart as given)
generated=(
    "examples/tenants/crd.yaml|--chart examples/tenants/chart --group platform.example.com --version v1alpha1 --kind Tenant --values-layout spec --short-name tn --category platform"
)

check=false
case ${1:-} in
"") ;;
--check) check=true ;;
*) die "usage: $0 [--check]" ;;
esac

if [[ -n ${LOSTROMOS_BIN:-} ]]; then
    bin=$LOSTROMOS_BIN
else
    cargo build "${cargo_profile_flag[@]}" --quiet -p lostromos --bin lostromos
    bin=$bin_dir/lostromos
fi

stale=()
for entry in "${generated[@]}"; do
    file=${entry%%|*}
    read -ra args <<<"${entry#*|}"
    # what it prints on stderr (constraints the API server will not check) is shown, not stored
    out=$("$bin" crd "${args[@]}") || die "lostromos crd ${args[*]} failed"
    if $check; then
        [[ -f $file && $(cat "$file") == "$out" ]] || stale+=("$file")
    else
        printf '%s\n' "$out" >"$file"
        echo "$file: lostromos crd ${args[*]}"
    fi
done
if ((${#stale[@]} > 0)); then
    die "out of date, not what \`lostromos crd\` prints now: ${stale[*]}; run \`just crds\` and commit the result"
fi
if $check; then echo "up to date: ${generated[*]%%|*}"; fi

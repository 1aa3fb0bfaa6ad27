# The ccd image the Kubernetes manifests under deploy/ run (deploy/README.md "The image"):
#
#   docker build -t ccd .
#
# One binary for every service: the manifests pass only its arguments (`media`, ...), run it
# as uid/gid 10001 and point [media] prompts_dir at /usr/share/ccd/prompts.
# scripts/check-deploy.sh checks that this file and the manifests agree.

# Build: the same Debian release as the runtime stage, so the binary's glibc matches.
FROM rust:1.95-bookworm AS builder
# protoc and the well-known .proto files, for the build scripts of cc-proto and etcd-client
# (scripts/setup.sh --build-only installs the same).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        protobuf-compiler libprotobuf-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The workspace: every member's manifest must be present, tests/ included.
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY services services
COPY tests tests
RUN cargo build --release --locked -p ccd

# Run: ccd links only libc, libm and libgcc_s (all in the base image); ca-certificates for
# TLS to etcd or other endpoints that use it.
FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# The user the manifests run as (runAsUser/runAsGroup 10001).
RUN groupadd --system --gid 10001 ccd \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/ccd --no-create-home \
        --shell /usr/sbin/nologin ccd \
    && install -d -o 10001 -g 10001 /var/lib/ccd /var/lib/ccd/recordings
COPY --from=builder /src/target/release/ccd /usr/local/bin/ccd
# [media] prompts_dir of deploy/base/ccd.toml.
COPY prompts/ /usr/share/ccd/prompts/
# Where `ccd all` without etcd keeps messages and callbacks across restarts (--data-dir;
# mount a volume there to keep them across containers). Unused with etcd.
ENV CCD_DATA_DIR=/var/lib/ccd/data
USER 10001:10001
# SIP (sip-edge), the gRPC API and grpc.health.v1, Prometheus metrics: [sip] listen,
# [grpc] listen and metrics_listen of deploy/base/ccd.toml. Media's RTP range and WebRTC
# port are set per site (rtp_ports, webrtc_port).
EXPOSE 5060/udp 5060/tcp 50051 9090
ENTRYPOINT ["ccd"]

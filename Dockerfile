# syntax=docker/dockerfile:1
#
# The confluence-hub image: a release build on the toolchain the project uses (Rust 1.95),
# copied onto distroless `cc` (glibc, libgcc, CA certificates, no shell), run as the
# image's non-root user. See deploy/README.md for how Kubernetes runs it.
#
#   docker build -t confluence-hub:0.1.0 .
#   docker run --rm -v "$PWD/hub:/etc/confluence-hub:ro" -e CONFLUENCE_HUB_CONFIG=/etc/confluence-hub/hub.toml \
#     -p 9090:9090 confluence-hub:0.1.0
#   docker run --rm --env-file acme.env confluence-hub:0.1.0    # as the reference connector: BATON_* only

# Bookworm on both sides: the binary links against the build image's glibc, which must
# not be newer than the runtime's (distroless cc-debian12 is bookworm).
#
# Both base images are pinned by digest, so a rebuild uses exactly the images it was
# reviewed with, whatever the tags point to later. To update one, read its tag's current
# digest with `docker buildx imagetools inspect IMAGE:TAG` (the "Digest:" line) or
# `crane digest IMAGE:TAG`, and change tag and digest together.
FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS build
WORKDIR /src

# The workspace: the binary at the top, its crates under crates/. The simulators and the
# demo sit behind the default `sim` feature, which the image leaves out
# (--no-default-features): the shipped binary links none of their code or dependencies.
# The registry and target directories are BuildKit cache mounts, so a rebuild after a
# source change compiles only the workspace's own crates. protoc comes vendored
# (protoc-bin-vendored) and SQLite/zstd/ring build with the image's gcc; jemalloc's
# build also runs make, which the slim image lacks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make=4.3-4.1 \
    && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features --bin confluence-hub \
    && mkdir -p /out/var/lib/confluence-hub \
    && cp target/release/confluence-hub /out/confluence-hub

FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f

LABEL org.opencontainers.image.title="confluence-hub" \
      org.opencontainers.image.description="One process that syncs many Confluence Data Center instances into ConductorOne" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /out/confluence-hub /usr/local/bin/confluence-hub
# The data dir exists and belongs to the runtime user even without a mounted volume.
COPY --from=build --chown=65532:65532 /out/var/lib/confluence-hub /var/lib/confluence-hub

# No CONFLUENCE_HUB_CONFIG here: without it, `run` serves one instance from the reference
# connector's BATON_* variables, so this image drops into the reference connector's
# Deployment. The hub's StatefulSet (deploy/) sets the variable to its mounted config.

# 65532 is distroless's `nonroot`; numeric so Kubernetes can verify runAsNonRoot.
USER 65532:65532
WORKDIR /var/lib/confluence-hub

# The admin server: /healthz, /readyz, /status, /metrics. Liveness and readiness are
# Kubernetes probes on it, hence no HEALTHCHECK here. Without a client id (a one-shot sync,
# as the reference does) `run` writes sync.c1z into the working directory and exits.
EXPOSE 9090

# Exec form: the hub is PID 1 and receives SIGTERM itself, which starts its graceful
# shutdown (hub.shutdown_grace).
ENTRYPOINT ["/usr/local/bin/confluence-hub"]
CMD ["run"]

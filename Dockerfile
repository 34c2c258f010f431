# syntax=docker/dockerfile:1
# Multi-stage build of the operator: a static-ish Rust binary (rustls + ring: no OpenSSL, but
# it links glibc) on a distroless base that has glibc and runs as the nonroot user 65532.

FROM rust:1-bookworm AS builder
WORKDIR /src
# The whole crate (see .dockerignore): Cargo.toml names tests/ targets, so they must exist.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && cp target/release/baseline-operator /baseline-operator

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/baseline-dev/baseline-operator" \
      org.opencontainers.image.description="baseline-operator: security baselines, backups and environment isolation for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /baseline-operator /baseline-operator
USER 65532:65532
# Two malloc arenas: a lower, flatter peak for a little CPU (benches/RESULTS.md, "Allocator").
ENV MALLOC_ARENA_MAX=2
EXPOSE 8080
ENTRYPOINT ["/baseline-operator"]
CMD ["run"]

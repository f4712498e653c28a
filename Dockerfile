# syntax=docker/dockerfile:1
# tradebot's image: built on Debian bookworm, run on distroless (glibc, CA
# certificates for TLS to the exchange, no shell, no package manager).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src

# Dependencies in their own layer: a placeholder crate against the real
# manifest and lock file, so editing src/ does not rebuild every crate.
# Cargo refuses a manifest whose [[bench]] files are missing: one
# placeholder per bench.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && for bench in logging replay exchange store; do echo 'fn main() {}' > "benches/$bench.rs"; done \
 && cargo build --release --locked --bin tradebot \
 && rm -rf src

COPY config ./config
# The schema migrations are compiled into the binary.
COPY migrations ./migrations
COPY src ./src
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin tradebot

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
WORKDIR /app
COPY --from=build /src/target/release/tradebot /usr/local/bin/tradebot
COPY config ./config
# SECRETS_DIR is where secrets are mounted, not a secret (hadolint's
# name-based DL3064 cannot tell).
# hadolint ignore=DL3064
ENV LOG_DIR=/app/logs \
    SECRETS_DIR=/run/secrets \
    TRADEBOT_CONFIG_DIR=/app/config
# Non-root by default (distroless "nonroot", uid 65532). docker-compose.yml
# runs it as the uid that owns ./secrets instead: see docs/DEPLOYMENT.md.
USER 65532:65532
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["tradebot", "healthcheck"]
ENTRYPOINT ["tradebot"]
CMD ["run"]

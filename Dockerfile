# syntax=docker/dockerfile:1
#
# Recap's two images, from one build stage:
#
#   docker build --target api    -t recap-api .
#   docker build --target worker -t recap-worker .
#   docker build --target worker --build-arg YTDLP_VERSION=<Debian version> -t recap-worker .
#
# api:    the static API binary on a distroless base (no shell, no libc),
#         user nonroot. Also runs `api migrate` and the admin subcommands.
# worker: Debian 13 (trixie) slim with ffmpeg, yt-dlp (trixie-backports,
#         pinned by YTDLP_VERSION), deno as yt-dlp's JavaScript runtime
#         (npm package deno, pinned by DENO_VERSION; YouTube needs one
#         since 2025.11), and tini as init; user recap with a writable
#         scratch directory. What is installed is
#         scripts/install-worker-deps.sh, which CI (.ci/run) runs too.
#
# Both run as uid/gid 65532 with DATA_DIR=/var/lib/recap (uploads, and
# the file:// blob store in files/ by default), so one volume mounted there
# in both (docker-compose.yml) is writable by each.

ARG GO_VERSION=1.26
ARG DEBIAN_RELEASE=bookworm
# The worker's base: yt-dlp's backports build and its runtime are Debian 13's.
ARG WORKER_DEBIAN_RELEASE=trixie

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    scripts/build-binaries.sh /out \
    && install -d -o 65532 -g 65532 -m 0750 /out/var-lib-recap /out/var-lib-recap/files

# ---------------------------------------------------------------- api
FROM gcr.io/distroless/static-debian12:nonroot AS api
COPY --from=build /out/api /usr/local/bin/api
COPY --from=build --chown=65532:65532 /out/var-lib-recap /var/lib/recap
USER 65532:65532
ENV LISTEN_ADDR=:8080 \
    DATA_DIR=/var/lib/recap \
    LOG_FORMAT=json
EXPOSE 8080
# The image has no curl: the binary probes its own /healthz.
HEALTHCHECK --interval=15s --timeout=7s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/api", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/api"]

# ------------------------------------------------------------- worker
FROM debian:${WORKER_DEBIAN_RELEASE}-slim AS worker
# A Debian version of yt-dlp in trixie-backports (`apt-cache policy
# yt-dlp`); sites change, so bump it with --build-arg YTDLP_VERSION=…
# (README, Keeping yt-dlp working). DENO_VERSION is the npm package deno.
ARG YTDLP_VERSION=2026.11.23-1~bpo13+1
ARG DENO_VERSION=2.9.6
COPY scripts/apt-backports.sh scripts/install-worker-deps.sh /tmp/recap-scripts/
RUN YTDLP_VERSION="${YTDLP_VERSION}" DENO_VERSION="${DENO_VERSION}" APT_CLEAN=1 /tmp/recap-scripts/install-worker-deps.sh \
    && rm -rf /tmp/recap-scripts \
    && groupadd --system --gid 65532 recap \
    && useradd --system --uid 65532 --gid recap --home-dir /var/lib/recap --create-home --shell /usr/sbin/nologin recap \
    && install -d -o recap -g recap -m 0700 /var/lib/recap/scratch \
    && install -d -o recap -g recap -m 0750 /var/lib/recap/files
COPY --from=build /out/worker /usr/local/bin/worker
USER 65532:65532
WORKDIR /var/lib/recap
# TEMP_DIR holds each job's downloads and audio chunks; mount a volume
# (an emptyDir in Kubernetes) there when the root filesystem is read-only.
ENV TEMP_DIR=/var/lib/recap/scratch \
    JS_RUNTIME=deno:/usr/local/bin/deno \
    DATA_DIR=/var/lib/recap \
    METRICS_ADDR=:9090 \
    HOME=/var/lib/recap \
    LOG_FORMAT=json
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=7s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/worker", "healthcheck"]
# tini is PID 1: it forwards SIGTERM to the worker (which drains for
# SHUTDOWN_TIMEOUT_SECONDS) and reaps what yt-dlp's children leave behind.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/worker"]

# syntax=docker/dockerfile:1
#
# Rapport's image: one static binary that runs as `rapport worker` (the
# default), `rapport api`, `rapport setup temporal`, `rapport codec-server`
# or `rapport migrate`, with the journeys in /app/journeys.
#
#   docker build -t rapport .
#   docker run --rm rapport --help
#
# To ship your own journeys, mount them over /app/journeys or build an image
# FROM this one that copies them there.

ARG GO_VERSION=1.26

# ---- build: compile a static binary -------------------------------------
# Runs on the builder's own platform and cross-compiles, so multi-platform
# builds (docker buildx build --platform linux/amd64,linux/arm64) need no
# emulation. -tags production leaves out the dev-only commands (dev, bench,
# simulate, chaos) and what they link: the embedded Temporal server and its
# UI, SQLite, the fake providers (see docs/operating.md, "The production
# build").
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -tags production -trimpath -ldflags='-s -w' -o /out/rapport ./cmd/rapport

# ---- runtime: the binary and the journeys, nothing else -----------------
# distroless/static carries CA certificates (for SendGrid, Twilio, Lob and
# Temporal Cloud) and tzdata (for customers' time zones), and no shell:
# health checks use `rapport health URL`.
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="rapport" \
      org.opencontainers.image.description="Rapport customer-journey engine (worker, API, codec server)" \
      org.opencontainers.image.source="https://github.com/rapporthq/rapport"
COPY --from=build /out/rapport /usr/local/bin/rapport
COPY journeys/ /app/journeys/
WORKDIR /app
ENV RAPPORT_JOURNEYS=/app/journeys \
    RAPPORT_LOG_FORMAT=json
# 65532 is distroless's "nonroot" user; numeric so that Kubernetes'
# runAsNonRoot can verify it.
USER 65532:65532
# 8080: rapport api: the API and its public pages (RAPPORT_API_ADDR)
# 9090: rapport worker and rapport api operations: /healthz, /readyz and
#       /metrics (RAPPORT_OPS_ADDR); publish it to the cluster only
# 8088: rapport codec-server
EXPOSE 8080 9090 8088
# Both the worker and the API answer /readyz on the ops port (Kubernetes
# ignores this and uses the manifests' probes; the codec server, which has
# no ops port, needs its own: http://127.0.0.1:8088/healthz).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 \
    CMD ["/usr/local/bin/rapport", "health", "http://127.0.0.1:9090/readyz"]
ENTRYPOINT ["/usr/local/bin/rapport"]
CMD ["worker"]

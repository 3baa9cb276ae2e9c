# syntax=docker/dockerfile:1
#
# firegrid as one static binary on a distroless base (no shell, runs as
# the unprivileged user 65532).
#
#   docker build -t firegrid --build-arg VERSION=$(git describe --always) .
#   docker run --rm -p 8080:8080 -p 1883:1883 -v firegrid-data:/data firegrid
#
# The default command is the all-in-one with the embedded MQTT broker;
# docker-compose.yml runs it against Mosquitto instead.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# Pure Go (the SQLite driver included), so the binary needs no libc.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/firegrid ./cmd/firegrid \
 && mkdir -p /out/data /out/credentials /out/mosquitto-auth

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/firegrid /usr/local/bin/firegrid
# A named volume mounted on /data starts as a copy of this directory, so it
# belongs to the user firegrid runs as.
COPY --from=build --chown=65532:65532 /out/data /data
# So are the credentials volumes of docker-compose.yml: the devices' and
# components' secrets, and Mosquitto's password and ACL files.
COPY --from=build --chown=65532:65532 /out/credentials /credentials
COPY --from=build --chown=65532:65532 /out/mosquitto-auth /mosquitto-auth
VOLUME /data
WORKDIR /data
# 8080: console, API, /metrics, /healthz. 1883: the embedded MQTT broker.
EXPOSE 8080 1883
ENTRYPOINT ["/usr/local/bin/firegrid"]
CMD ["serve", "--http", "0.0.0.0:8080", "--mqtt-listen", "0.0.0.0:1883", "--data", "/data"]

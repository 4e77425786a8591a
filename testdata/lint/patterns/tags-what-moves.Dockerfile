# One model of what moves: a digest never; a full version, a release number or a codename only
# within its release line; a major-only tag across minor releases; no version at all, anything.
FROM golang:1@sha256:5e5d8f8b3b8f2c0a39bd1e0a5a3d4c2b1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c AS build
ENV CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/app

FROM debian:bookworm-slim AS certs
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates

FROM ubuntu:jammy AS ubuntu
FROM debian:12 AS debian
FROM alpine:3.19 AS alpine
# expect GO010
FROM alpine:3 AS alpine-major
# expect GO008
FROM golang:bookworm AS toolchain-variant
# expect GO008[DL3006]
FROM busybox AS untagged
# expect GO009[DL3007]
FROM busybox:latest AS latest

FROM scratch
COPY --from=certs /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]

# syntax=docker/dockerfile:1
# A cross build in a heredoc: continued lines form one command, and linker flags the script puts
# in a variable may link statically, so cgo is not judged from them.
FROM --platform=$BUILDPLATFORM golang:1.24.1-bookworm AS build
WORKDIR /workspace
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETPLATFORM
# expect GO007
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache <<EOT
    export CGO_ENABLED=1
    if [ "$(uname -m)" = "x86_64" ]; then
        export LD_EXTRA="-extldflags '-static'"
    fi
    go build -tags=netgo -ldflags="${LD_EXTRA} -w -s \
        -X main.version=1" \
        -o /out/app .
EOT

FROM alpine:3.21.3
COPY --from=build /out/app /app/
USER 65532
ENTRYPOINT ["/app/app"]

# Vendored modules need no download, so copying the whole source first costs nothing; a cgo
# build on the Debian-based golang image runs on a distroless image that has glibc. Quoted
# linker flags with command substitutions are one value, not packages.
FROM golang:1.22.1-bookworm AS build
WORKDIR /app
COPY . ./
ENV CGO_ENABLED=1
# expect GO007
RUN go build -mod=vendor \
    -ldflags="-X main.version=$(cat VERSION) -X main.date=$(date --iso-8601=seconds)" \
    ./cmd/server && \
    go build -mod vendor -ldflags "-X main.version=$(cat VERSION)" ./cmd/client

FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /app/server /bin/server
COPY --from=build /app/client /bin/client
ENTRYPOINT ["/bin/server"]

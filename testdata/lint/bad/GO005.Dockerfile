# cgo is on by default where gcc is (the Debian-based golang image); alpine has musl, not glibc.
FROM golang:1.22.1-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/api ./cmd/api

FROM alpine:3.19
COPY --from=build /out/api /api
USER 65532
ENTRYPOINT ["/api"]

# Before Go 1.20 cgo stayed on without a C compiler, and net linked musl dynamically.
FROM golang:1.19.13-alpine3.18 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# expect GO005
RUN go build -trimpath -ldflags="-s -w" -o /out/api ./cmd/api

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/api /api
USER 65532:65532
ENTRYPOINT ["/api"]

# Tools the build runs are installed with `go install …@version`; only the service's binary
# reaches the final image, so only its build is judged for flags and cgo.
FROM golang:1.22.1-bookworm AS build
WORKDIR /src
RUN go install github.com/bwplotka/bingo@v0.9.0 && go install aead.dev/minisign/cmd/minisign@v0.3.0
COPY go.mod go.sum ./
RUN go mod download
# Warms the build cache from dependencies before the source arrives; builds nothing that ships.
RUN go install golang.org/x/crypto/ssh github.com/mdlayher/netlink
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/api ./cmd/api
# expect GO005 GO007
RUN go build -o /out/debug-tool ./cmd/debug-tool

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/api /api
COPY --from=build /out/debug-tool /debug-tool
ENTRYPOINT ["/api"]

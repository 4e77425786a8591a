# An explicit cgo build on alpine, shipped on alpine: musl on both sides is fine.
FROM golang:1.22.1-alpine3.19 AS build
RUN apk add --no-cache gcc musl-dev
ENV CGO_ENABLED=1
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -tags sqlite -o /out/api ./cmd/api

FROM alpine:3.19.1
COPY --from=build /out/api /usr/local/bin/api
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/api"]

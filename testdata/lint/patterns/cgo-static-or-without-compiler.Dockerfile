# Two builds that need no C library at run time: one links cgo statically, the other runs where
# no C compiler is installed, so Go (1.20 and later) turns cgo off by itself.
ARG CGO=1
FROM golang:1.22.1-alpine3.19 AS build
RUN apk add --no-cache gcc musl-dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG CGO
ENV CGO_ENABLED=${CGO}
RUN go build -trimpath -ldflags "-s -w -linkmode external -extldflags \"-static\"" -o /out/api ./cmd/api

FROM golang:1.22.1-alpine3.19 AS plain
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/worker ./cmd/worker

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/api /api
COPY --from=plain /out/worker /worker
USER 65532:65532
ENTRYPOINT ["/api"]

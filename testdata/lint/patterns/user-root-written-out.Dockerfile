# `USER root` as the last USER of the final stage: hadolint's DL3002 fires on the same line.
FROM golang:1.22.1-alpine3.19 AS build
ENV CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/app

FROM alpine:3.19.1
COPY --from=build /out/app /app
USER 65532
RUN chown 65532 /app
# expect GO012[DL3002]
USER root
ENTRYPOINT ["/app"]

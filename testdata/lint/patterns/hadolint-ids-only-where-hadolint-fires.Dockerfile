# hadolint sees the text as written: a variable hides the image and the user from it, and it
# says nothing where no USER is written.
ARG BASE=alpine:latest
FROM golang:1.22.1-alpine3.19 AS build
ENV CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/app

# expect GO009
FROM ${BASE} AS base
ARG RUNAS=0
# expect GO012
USER ${RUNAS}

FROM base
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]

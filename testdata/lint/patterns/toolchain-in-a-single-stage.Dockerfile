# A single stage on the golang image that builds through make: no go command is visible, but
# the toolchain image is what ships.
# expect GO002 GO012
FROM golang:1.22.1-alpine3.19
WORKDIR /go/src/example.com/registry
COPY . .
RUN apk add --no-cache make git && make PREFIX=/go binaries
ENTRYPOINT ["registry"]

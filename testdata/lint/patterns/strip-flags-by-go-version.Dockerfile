# Since Go 1.22 the linker's -s implies -w; before, -s alone kept the DWARF data. -trimpath
# exists from Go 1.13, and Go before 1.11 has no modules to download.
FROM golang:1.22.1-alpine3.19 AS new
ENV CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags=-s -o /out/new ./cmd/new

FROM golang:1.21.8-alpine3.19 AS old
ENV CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# expect GO007
RUN go build -trimpath -ldflags=-s -o /out/old ./cmd/old

FROM golang:1.9.7-alpine3.8 AS gopath
ENV CGO_ENABLED=0
COPY . /go/src/example.com/legacy
WORKDIR /go/src/example.com/legacy
RUN go build -ldflags "-s -w" -o /out/legacy .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=new /out/new /new
COPY --from=old /out/old /old
COPY --from=gopath /out/legacy /legacy
ENTRYPOINT ["/new"]

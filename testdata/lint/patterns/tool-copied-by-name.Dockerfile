# A tool installed by import path ships when the final stage copies it by name.
FROM golang:1.22.1-alpine3.19 AS tools
# expect GO007
RUN CGO_ENABLED=0 go install github.com/go-delve/delve/cmd/dlv@v1.22.1

FROM alpine:3.19.1
COPY --from=tools /go/bin/dlv /usr/local/bin/dlv
USER 65532
ENTRYPOINT ["/usr/local/bin/dlv"]

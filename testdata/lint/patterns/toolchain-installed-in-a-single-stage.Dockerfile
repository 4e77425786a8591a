# Go installed from the distribution and used by `go get` in the only stage: the toolchain
# ships, whatever builds the rest.
FROM ubuntu:24.04
RUN apt-get update && apt-get install -y --no-install-recommends golang-go make git
ENV GOPATH=/opt
# expect GO001
RUN go get github.com/mitchellh/gox
COPY . /opt/src/example.com/tool
RUN make -C /opt/src/example.com/tool dev
USER 65532
ENTRYPOINT ["/opt/bin/tool"]

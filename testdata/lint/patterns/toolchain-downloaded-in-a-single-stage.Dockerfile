# A Go release archive downloaded into the only stage, the build behind make.
FROM debian:12-slim
ENV GO_TARBALL=go1.22.5.linux-amd64.tar.gz
# expect GO001
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates make \
    && curl -fsSLO "https://go.dev/dl/${GO_TARBALL}" \
    && tar -C /usr/local -xzf "${GO_TARBALL}" && rm "${GO_TARBALL}"
ENV PATH=/usr/local/go/bin:$PATH
COPY . /src
WORKDIR /src
RUN make
USER 65532
ENTRYPOINT ["/src/server"]

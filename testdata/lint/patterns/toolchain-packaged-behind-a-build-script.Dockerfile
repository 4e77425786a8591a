# Go installed from the distribution in the only stage and used by a build script: no go
# command is visible, but the toolchain ships.
FROM ubuntu:24.04
# expect GO001
RUN apt-get update && apt-get install -y --no-install-recommends golang-go git \
    && rm -rf /var/lib/apt/lists/*
COPY . /opt/src
RUN cd /opt/src && ./build
USER 65532
ENTRYPOINT ["/opt/src/bin/server"]

# ARGs and ENVs resolve in USER, WORKDIR, COPY and ENV as they do in FROM.
ARG BUILDER=build
FROM golang:1.22.1-bookworm AS build
ARG SRC=/workspace
ARG CGO=0
ENV CGO_ENABLED=${CGO}
WORKDIR ${SRC}
COPY go.mod go.sum ./
RUN go mod download
COPY . .
WORKDIR cmd/manager
# Written to ${SRC}/cmd/manager/manager: the COPY below names it through the same ARG.
RUN go build -trimpath -ldflags="-s -w"

FROM alpine:3.19.1 AS runtime
ARG BUILDER
ARG USERNAME="root"
ARG SRC=/workspace
COPY --from=${BUILDER} ${SRC}/cmd/manager/manager /usr/local/bin/manager
# expect GO012
USER ${USERNAME}
ENTRYPOINT ["/usr/local/bin/manager"]

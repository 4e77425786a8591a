# The multi-stage pattern for Go found in many repositories, with its usual mistakes.
FROM golang:alpine AS builder
RUN apk update && apk add git ca-certificates
WORKDIR /go/src/app
COPY . .
RUN go get -d -v
RUN GOOS=linux go build -a -installsuffix cgo -o /go/bin/app .

FROM alpine:latest
COPY --from=builder /go/bin/app /app
EXPOSE 8080
CMD ./app

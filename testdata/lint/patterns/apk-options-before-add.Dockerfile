# apk takes its options before the subcommand as well as after it.
FROM alpine:3.19.1
# expect GO014[DL3019]
RUN apk --update add ca-certificates
RUN apk --no-cache --update add tzdata
RUN xx-apk add --no-cache gcc
USER 65532
ENTRYPOINT ["/bin/true"]

# A byte-order mark before the first line, as some editors write it: BuildKit skips it.
FROM scratch
COPY app /app
USER 65532:65532
ENTRYPOINT ["/app"]

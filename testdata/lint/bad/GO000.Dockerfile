FROM scratch
FETCH x

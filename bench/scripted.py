"""The benchmark's second load client: a scripted client as people write them, on Python's
http.client. One connection per pusher, each request body handed to one `request()` call (so
each chunk goes to the socket in one `sendall`), responses read whole. bench/main.rs runs it as a
child process and reads one JSON line from its standard output; only the work itself is timed,
not the interpreter's start or the reading of the blob file.

    scripted.py push ADDR REPO FILE DIGEST CHUNK    CHUNK 0: one PUT; else PATCHes of CHUNK bytes
    scripted.py pull ADDR PATH DIGEST
    scripted.py small ADDR REPO COUNT PUSHERS SIZE SEED

The `Authorization` value of every request comes from the environment (BENCH_AUTHORIZATION,
empty for none). Any unexpected status or digest is an exception: exit code 1.
"""

import hashlib
import http.client
import json
import os
import random
import sys
import threading
import time

AUTHORIZATION = os.environ.get("BENCH_AUTHORIZATION", "")


def connect(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port))


def call(conn, method, path, body=None, headers=None, expect=200):
    headers = dict(headers or {})
    if AUTHORIZATION:
        headers["Authorization"] = AUTHORIZATION
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != expect:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
    return response, data


def location(response):
    value = response.getheader("Location")
    if value.startswith("http://"):
        value = value[value.index("/", len("http://")):]
    return value


def with_digest(at, digest):
    return f"{at}{'&' if '?' in at else '?'}digest={digest}"


def push(conn, repo, blob, digest, chunk):
    response, _ = call(conn, "POST", f"/v2/{repo}/blobs/uploads/", expect=202)
    at = location(response)
    last = blob
    if chunk:
        view = memoryview(blob)
        for start in range(0, len(blob), chunk):
            end = min(start + chunk, len(blob))
            headers = {
                "Content-Range": f"{start}-{end - 1}",
                "Content-Type": "application/octet-stream",
            }
            response, _ = call(conn, "PATCH", at, view[start:end], headers, expect=202)
            at = location(response)
        last = b""
    headers = {"Content-Type": "application/octet-stream"}
    response, _ = call(conn, "PUT", with_digest(at, digest), last, headers, expect=201)
    if response.getheader("Docker-Content-Digest") != digest:
        raise RuntimeError(f"pushed {digest}, stored {response.getheader('Docker-Content-Digest')}")


def main(argv):
    command, addr = argv[1], argv[2]
    if command == "push":
        repo, path, digest, chunk = argv[3], argv[4], argv[5], int(argv[6])
        with open(path, "rb") as file:
            blob = file.read()
        conn = connect(addr)
        start = time.perf_counter()
        push(conn, repo, blob, digest, chunk)
        return {"seconds": time.perf_counter() - start}
    if command == "pull":
        path, digest = argv[3], argv[4]
        conn = connect(addr)
        start = time.perf_counter()
        _, data = call(conn, "GET", path)
        seconds = time.perf_counter() - start
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise RuntimeError(f"GET {path}: wrong bytes")
        return {"seconds": seconds, "bytes": len(data)}
    if command == "small":
        repo, count, pushers, size, seed = argv[3], *map(int, argv[4:8])
        blobs = [random.Random(seed * count + i).randbytes(size) for i in range(count)]
        digests = ["sha256:" + hashlib.sha256(b).hexdigest() for b in blobs]
        next_blob = iter(range(count))
        lock = threading.Lock()
        failures = []

        def pusher():
            conn = connect(addr)
            while True:
                with lock:
                    i = next(next_blob, None)
                if i is None:
                    return
                try:
                    response, _ = call(conn, "POST", f"/v2/{repo}/blobs/uploads/", expect=202)
                    response, _ = call(conn, "PATCH", location(response), blobs[i], expect=202)
                    at = with_digest(location(response), digests[i])
                    response, _ = call(conn, "PUT", at, expect=201)
                except Exception as error:  # reported by the main thread, which exits 1
                    failures.append(error)
                    return

        threads = [threading.Thread(target=pusher) for _ in range(pushers)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
        if failures:
            raise failures[0]
        return {"per_second": count / seconds}
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv)))

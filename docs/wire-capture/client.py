#!/usr/bin/env python3
"""The client side of docs/wire-capture.md: three requests on one TCP connection.

Written out byte by byte rather than with curl so that the capture shows
exactly these bytes and nothing a client library adds or reorders:

  1. GET /data/birds.json                      -> 200, Content-Length, ETag
  2. the same with If-None-Match: <that ETag>  -> 304, no body
  3. the same with Range: bytes=4-51 and
     Connection: close                         -> 206, the first record; the
                                                  server then closes

Each request is sent with one sendall() only after the previous response
has been read whole, so every request is one TCP segment and nothing is
pipelined. Every status, length and body is checked against the file on
disk; any mismatch exits with status 1 so the capture script stops.

Usage: client.py PORT FILE   (FILE: the served birds.json, to compare bodies)
"""

import socket
import sys

TIMEOUT_SECONDS = 5
RANGE_FIRST, RANGE_LAST = 4, 51  # the bytes of {"name": "Osprey", ...}


def fail(message):
    print(f"client: {message}", file=sys.stderr)
    sys.exit(1)


def request(host, extra=b""):
    # RFC 9112 §3: request-line, then field lines, then an empty line.
    return (
        b"GET /data/birds.json HTTP/1.1\r\n"
        b"Host: " + host + b"\r\n"
        b"User-Agent: wire-capture/1\r\n"
        b"Accept: application/json\r\n" + extra + b"\r\n"
    )


class Reader:
    """Reads responses framed by Content-Length (or without a body)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            fail("connection closed in the middle of a response")
        self.buf += data

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        fields = {}
        for line in lines[1:]:
            name, value = line.split(b":", 1)
            fields[name.strip().lower().decode()] = value.strip().decode()
        # RFC 9112 §6.3: 304 has no body whatever its fields say.
        length = 0 if status == 304 else int(fields.get("content-length", "0"))
        while len(self.buf) < length:
            self.fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, fields, body


def main():
    if len(sys.argv) != 3:
        fail("usage: client.py PORT FILE")
    port = int(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        expected = f.read()
    host = f"127.0.0.1:{port}".encode()

    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS)
    # As curl does: nothing waits for Nagle's algorithm (RFC 896).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = Reader(sock)

    sock.sendall(request(host))
    status, fields, body = reader.response()
    if status != 200 or body != expected or "etag" not in fields:
        fail(f"request 1: expected 200 with the file and an ETag, got {status}")
    etag = fields["etag"].encode()
    print(f"1: 200, {len(body)} bytes, ETag {fields['etag']}")

    sock.sendall(request(host, b"If-None-Match: " + etag + b"\r\n"))
    status, fields, body = reader.response()
    if status != 304 or body or fields.get("etag") != etag.decode():
        fail(f"request 2: expected 304 with the same ETag, got {status}")
    print("2: 304 Not Modified")

    sock.sendall(
        request(
            host,
            b"Range: bytes=%d-%d\r\nConnection: close\r\n" % (RANGE_FIRST, RANGE_LAST),
        )
    )
    status, fields, body = reader.response()
    want_range = f"bytes {RANGE_FIRST}-{RANGE_LAST}/{len(expected)}"
    if (
        status != 206
        or body != expected[RANGE_FIRST : RANGE_LAST + 1]
        or fields.get("content-range") != want_range
        or fields.get("connection") != "close"
    ):
        fail(f"request 3: expected 206 {want_range} and Connection: close, got {status}")
    print(f"3: 206, {fields['content-range']}: {body.decode()}")

    # The server announced Connection: close, so it closes first (RFC 9112
    # §9.6): wait for its FIN (recv returns b"") before closing our side.
    if reader.buf:
        fail("bytes after the last response")
    if sock.recv(65536):
        fail("bytes after the last response")
    sock.close()
    print("server closed first; client closed")


if __name__ == "__main__":
    main()

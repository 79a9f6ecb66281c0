#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets from the golden fixtures.

    python3 fuzz/seed.py            # from anywhere; writes fuzz/corpus/<target>/
    python3 fuzz/seed.py DIR        # writes DIR/<target>/ instead

Request fixtures (crates/h1/tests/fixtures/requests/*.http) give their
`--- input` section; response fixtures give their `--- expect` bytes (the
`<close>` marker removed). Escapes are those of crates/h1/tests/fixtures/README.md:
\\r \\n \\t \\0 \\s \\\\ \\xHH, raw newlines dropped. A few built-in inputs are
added for what the fixtures may not cover yet. Each seed gets the control
bytes its target expects in front (see fuzz/src/lib.rs). The corpora are
gitignored; rerunning this script is cheap and overwrites the seeds only.
Standard library only.
"""

import hashlib
import pathlib
import re
import ssl
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "crates/h1/tests/fixtures"
CORPUS = ROOT / "fuzz/corpus"


def unescape(text):
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        i += 1
        if c == "\n":
            continue
        if c != "\\":
            out += c.encode()
            continue
        e = text[i]
        i += 1
        simple = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "s": b" ", "\\": b"\\"}
        if e in simple:
            out += simple[e]
        elif e == "x":
            out.append(int(text[i : i + 2], 16))
            i += 2
        else:
            raise ValueError("unknown escape \\" + e)
    return bytes(out)


def sections(path):
    """The sections of a fixture file as {name: text}, lines kept with LF."""
    found = {}
    name = None
    for line in path.read_text().splitlines():
        if line.startswith("--- "):
            name = line[4:].strip()
            found[name] = ""
        elif name is not None:
            found[name] += line + "\n"
    return found


def head_and_body(message):
    end = message.find(b"\r\n\r\n")
    if end < 0:
        return message, b""
    return message[: end + 4], message[end + 4 :]


BUILTIN_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n",
    b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n0\r\nChecksum: abc\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\ntunnel",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
    b"GET http://example.com:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
]
BUILTIN_RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.0 404 Not Found\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"HTTP/1.1 204\r\n\r\n",
]
BUILTIN_CHUNKED = [
    b"5;a=b\r\nhello\r\n6 ;x\r\n world\r\n0\r\nChecksum: abc\r\n\r\nNEXT",
    b"1\r\na\r\nA\r\n0123456789\r\n0\r\n\r\n",
    b"0\r\n\r\n",
]


def client_hellos():
    """Real ClientHellos (TLS 1.2-1.3, and 1.2 only) from Python's ssl, for
    the tls_connection target: the fuzzer then starts inside a handshake."""
    hellos = []
    for maximum in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = maximum
        ctx.set_alpn_protocols(["http/1.1"])
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        conn = ctx.wrap_bio(incoming, outgoing, server_hostname="fuzz.test")
        try:
            conn.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hellos.append(outgoing.read())
    return hellos


def main():
    corpus = pathlib.Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else CORPUS
    requests = sorted((FIXTURES / "requests").glob("*.http"))
    responses = sorted((FIXTURES / "responses").glob("*.http"))
    seeds = {
        "request_head": [],
        "response_head": [],
        "chunked": [],
        "server_conn": [],
        "tls_connection": [],
    }

    def add(target, name, data):
        seeds[target].append((name, data))

    req_inputs = [(p.stem, unescape(sections(p)["input"])) for p in requests]
    req_inputs += [("builtin-%d" % i, b) for i, b in enumerate(BUILTIN_REQUESTS)]
    for name, data in req_inputs:
        for split in (0x55, 0xAA):
            add("request_head", "%s-split%02x" % (name, split), bytes([split]) + data)
        for step in (0, 6, 0xFF):
            add("server_conn", "%s-step%d" % (name, step + 1), bytes([step]) + data)
        head, body = head_and_body(data)
        if b"chunked" in head.lower() and body:
            add("chunked", name, b"\x02\x00\x04\x10" + body)

    resp_inputs = []
    for p in responses:
        s = sections(p)
        raw = s.get("expect", "").replace("<close>", "")
        ctx = 0
        m = re.search(r"^request:\s*(\S+)", s.get("response", ""), re.M)
        if m and m.group(1) == "HEAD":
            ctx |= 1
        if m and m.group(1) == "CONNECT":
            ctx |= 2
        resp_inputs.append((p.stem, ctx, unescape(raw)))
    resp_inputs += [("builtin-%d" % i, 0, b) for i, b in enumerate(BUILTIN_RESPONSES)]
    for name, ctx, data in resp_inputs:
        for split in (0x55, 0xAA):
            add("response_head", "%s-split%02x" % (name, split), bytes([split, ctx]) + data)
        head, body = head_and_body(data)
        if b"chunked" in head.lower() and body:
            add("chunked", "resp-" + name, b"\x02\x00\x04\x10" + body)

    for i, body in enumerate(BUILTIN_CHUNKED):
        add("chunked", "builtin-%d" % i, b"\x02\x00\x04\x10" + body)
        add("chunked", "builtin-%d-bytewise" % i, b"\x00\x00" + body)

    for i, hello in enumerate(client_hellos()):
        for step in (0, 6, 0xFF):
            add("tls_connection", "client-hello-%d-step%d" % (i, step + 1), bytes([step]) + hello)
    add("tls_connection", "plain-http", b"\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    for target, items in seeds.items():
        d = corpus / target
        d.mkdir(parents=True, exist_ok=True)
        for name, data in items:
            digest = hashlib.sha1(data).hexdigest()[:8]
            (d / ("seed-%s-%s" % (name, digest))).write_bytes(data)
        print("%-14s %3d seeds -> %s" % (target, len(items), d))
    return 0


if __name__ == "__main__":
    sys.exit(main())

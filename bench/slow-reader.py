#!/usr/bin/env python3
"""A slow reader of a large streamed body: does the server's memory stay flat?

Starts `osprey-test-server --model reactor`, requests
`GET /produce?bytes=N&chunk=65536` (a chunked body sent from a producer
thread, byte i = i % 251) and reads it at a fixed rate (default 100 MiB at
1 MiB/s, ~100 s; `--quick`: 20 MiB at 4 MiB/s). The server's VmRSS is sampled
every second. Every byte and the chunked framing (sizes, CRLFs, last chunk,
end of trailers) are verified; afterwards a second request on the same
connection checks that it is still usable.

Writes bench/results/slow-reader-<UTC date>.md and the samples as CSV in
bench/results/raw/.
Usage: python3 bench/slow-reader.py [--quick] [--bytes N] [--rate BYTES_PER_S] [--no-wait-quiet]
"""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

MiB = 1 << 20
PERIOD = 251
PATTERN = bytes(i % PERIOD for i in range(PERIOD + 2 * MiB))


class FramingError(Exception):
    pass


class ChunkedVerifier:
    """Incremental chunked-body decoder checking every data byte against the
    i % 251 pattern."""

    def __init__(self):
        self.buf = b""
        self.state = "size"
        self.left = 0
        self.offset = 0  # body bytes verified so far
        self.chunks = 0
        self.sizes = set()
        self.done = False

    def feed(self, data):
        self.buf += data
        while True:
            if self.state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    if len(self.buf) > 1024:
                        raise FramingError(f"chunk-size line too long at body offset {self.offset}")
                    return
                line = self.buf[:i]
                self.buf = self.buf[i + 2 :]
                size_s = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_s, 16)
                except ValueError:
                    raise FramingError(f"bad chunk-size line {line[:40]!r} at body offset {self.offset}")
                if size == 0:
                    self.state = "trailers"
                else:
                    self.left = size
                    self.chunks += 1
                    self.sizes.add(size)
                    self.state = "data"
            elif self.state == "data":
                if not self.buf:
                    return
                take = min(self.left, len(self.buf))
                piece, self.buf = self.buf[:take], self.buf[take:]
                pos = 0
                while pos < len(piece):  # compare in slices of at most 1 MiB
                    part = piece[pos : pos + MiB]
                    start = (self.offset + pos) % PERIOD
                    if part != PATTERN[start : start + len(part)]:
                        for j, b in enumerate(part):
                            if b != (self.offset + pos + j) % PERIOD:
                                raise FramingError(f"byte {self.offset + pos + j} is {b}, expected "
                                                   f"{(self.offset + pos + j) % PERIOD}")
                    pos += len(part)
                self.offset += take
                self.left -= take
                if self.left == 0:
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    return
                if self.buf[:2] != b"\r\n":
                    raise FramingError(f"missing CRLF after chunk {self.chunks} (got {self.buf[:2]!r})")
                self.buf = self.buf[2:]
                self.state = "size"
            elif self.state == "trailers":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    return
                line, self.buf = self.buf[:i], self.buf[i + 2 :]
                if line == b"":
                    self.done = True
                    self.state = "end"
                    return
            else:
                return


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20 MiB at 4 MiB/s; no quiet-machine wait")
    ap.add_argument("--bytes", type=int, default=None, help="body size (default 104857600)")
    ap.add_argument("--rate", type=int, default=None, help="read rate in bytes/s (default 1 MiB/s)")
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--wait-quiet", dest="wait_quiet", action="store_true", default=None)
    ap.add_argument("--no-wait-quiet", dest="wait_quiet", action="store_false")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    total = a.bytes or (20 * MiB if a.quick else 100 * MiB)
    rate = a.rate or (4 * MiB if a.quick else MiB)
    wait_quiet = (not a.quick) if a.wait_quiet is None else a.wait_quiet
    quiet_note = c.wait_quiet() if wait_quiet else "Quiet-machine check skipped (--quick / --no-wait-quiet)."
    if not a.no_build:
        c.build("testkit")
    c.machine_facts()  # commit and date as of the build, before the run
    tmp = c.tmpdir("osprey-bench-slow-")
    out, err = os.path.join(tmp, "server.out"), os.path.join(tmp, "server.err")
    server_argv = [c.TEST_SERVER, "--listen", "127.0.0.1:0", "--model", "reactor"]
    p = c.spawn(server_argv, stdout=open(out, "w"), stderr=open(err, "w"))
    port = c.wait_listening_line(out, p)
    time.sleep(0.3)
    started = c.utc_now()
    baseline = c.vm_rss_kib(p.pid)
    samples = [(0.0, 0, baseline)]  # (seconds, body bytes received, RSS KiB)
    problems = []

    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(1.0)
    path = f"/produce?bytes={total}&chunk={a.chunk}"
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    t0 = time.monotonic()
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(4096)
        if not d:
            raise SystemExit("server closed before the response head")
        head += d
    head, _, rest = head.partition(b"\r\n\r\n")
    head_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head_lines[1:])}
    if not head_lines[0].startswith("HTTP/1.1 200"):
        problems.append(f"status line {head_lines[0]!r}")
    if headers.get("transfer-encoding", "").lower() != "chunked":
        problems.append(f"Transfer-Encoding is {headers.get('transfer-encoding')!r}, expected chunked")
    v = ChunkedVerifier()
    received = len(rest)  # wire bytes after the head
    try:
        v.feed(rest)
    except FramingError as e:
        problems.append(str(e))
    next_sample = 1.0
    deadline = t0 + total / rate * 1.5 + 60
    error = None
    while not v.done and not problems:
        now = time.monotonic()
        el = now - t0
        if el >= next_sample:
            samples.append((el, v.offset, c.vm_rss_kib(p.pid)))
            next_sample += 1.0
        if now > deadline:
            error = f"gave up after {el:.0f} s at body offset {v.offset:,}"
            break
        allowed = int(rate * el) - received
        if allowed <= 0:
            time.sleep(min(0.05, max(0.001, -allowed / rate)))
            continue
        try:
            d = s.recv(min(allowed, 256 * 1024))
        except socket.timeout:
            continue
        except OSError as e:
            error = f"recv failed at body offset {v.offset:,}: {e}"
            break
        if not d:
            error = f"server closed the connection at body offset {v.offset:,} of {total:,}"
            break
        received += len(d)
        try:
            v.feed(d)
        except FramingError as e:
            problems.append(str(e))
    elapsed = time.monotonic() - t0
    samples.append((elapsed, v.offset, c.vm_rss_kib(p.pid)))
    if error:
        problems.append(error)
    if v.done and v.offset != total:
        problems.append(f"body has {v.offset:,} bytes, expected {total:,}")
    if v.buf:
        problems.append(f"{len(v.buf)} unexpected byte(s) after the last chunk")
    # The connection must still work.
    followup = "not tried"
    if v.done and not problems:
        try:
            s.settimeout(5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            st, _, body = c.read_response(s, v.buf)
            followup = f"{st} {body.decode(errors='replace')!r}"
            if st != 200 or body != b"Hello, World!":
                problems.append(f"follow-up GET / answered {followup}")
        except (OSError, ValueError) as e:
            followup = f"failed: {e}"
            problems.append(f"follow-up GET / on the same connection failed: {e}")
    s.close()
    time.sleep(0.5)
    after_close = c.vm_rss_kib(p.pid)
    alive = p.poll() is None
    code, leftovers = c.stop(p)
    if not alive:
        problems.append(f"server died (exit {p.returncode})")
    elif code != 0:
        problems.append(f"server exit {code} after SIGTERM" if code is not None else "server ignored SIGTERM for 5 s")
    text = open(err).read().strip()
    if text:
        problems.append(f"server stderr: {text[:300]!r}")

    date = c.utc_date()
    stem = f"slow-reader-{date}" + ("-quick" if a.quick else "")
    os.makedirs(c.RAW, exist_ok=True)
    csv_path = os.path.join(c.RAW, f"{stem}.csv")
    with open(csv_path, "w") as f:
        f.write("seconds,body_bytes,server_vmrss_kib\n")
        for t, b, r in samples:
            f.write(f"{t:.2f},{b},{r}\n")
    rss = [r for _, _, r in samples[1:] if r is not None]
    lines = [f"# Slow reader: server memory while a client reads a streamed body slowly ({date})", "",
             c.facts_md([
                 f"- Run: {started.strftime('%H:%M')}–{c.utc_now().strftime('%H:%M')} UTC",
                 f"- Server: `osprey-test-server --model reactor` (2 event loops; output high-water mark "
                 f"256 KiB per connection), `GET {path}`: a chunked body from a producer thread "
                 f"(`Body::channel(4)`), byte i = i % 251",
                 f"- Client: one connection reading at {rate / MiB:g} MiB/s (token bucket, recv ≤ 256 KiB); "
                 f"default kernel socket buffers (loopback)",
                 f"- {quiet_note}",
             ]), "",
             "## Result", "",
             f"- Body: {v.offset:,} of {total:,} bytes in {elapsed:.1f} s ({v.offset / elapsed / MiB:.2f} MiB/s); "
             f"{v.chunks:,} chunks, sizes {', '.join(f'{x:,}' for x in sorted(v.sizes)[:5])}"
             f"{' …' if len(v.sizes) > 5 else ''}; last chunk and trailers {'seen' if v.done else 'NOT seen'}",
             f"- Verification: {'every byte matched i % 251 and the chunked framing was valid' if not problems else 'FAILED'}; "
             f"follow-up `GET /` on the same connection: {followup}",
             f"- Server VmRSS: before the request {baseline / 1024:.1f} MiB; during the read "
             f"min **{min(rss) / 1024:.1f} MiB**, max **{max(rss) / 1024:.1f} MiB**, first (1 s) "
             f"{rss[0] / 1024:.1f} MiB, last {rss[-1] / 1024:.1f} MiB; after closing {after_close / 1024:.1f} MiB "
             f"({len(samples) - 1} samples, one per second)",
             "", "## Samples", "",
             "| t | body read | server VmRSS |", "|--:|--:|--:|"]
    step = max(1, (len(samples) - 1) // 20)
    shown = samples[::step]
    if samples[-1][0] - shown[-1][0] > 0.5:
        shown.append(samples[-1])
    for t, b, r in shown:
        lines.append(f"| {t:.1f} s | {b / MiB:.1f} MiB | {r / 1024:.1f} MiB |")
    lines += ["", f"All samples: `bench/results/raw/{stem}.csv`.", "", "## Anomalies", ""]
    lines += [f"- {m}" for m in problems] or ["None."]
    lines.append("")
    path_md = os.path.join(c.RESULTS, f"{stem}.md")
    with open(path_md, "w") as f:
        f.write("\n".join(lines))
    c.log(f"wrote {os.path.relpath(path_md)}")
    print("\n".join(lines))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

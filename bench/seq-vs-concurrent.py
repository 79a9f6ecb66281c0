#!/usr/bin/env python3
"""100 sequential vs 100 concurrent requests, per Osprey model.

For every model (`examples/hello --workers 2`): the wall time of
- sequential: 100 requests one after another, each on its own connection
  (connect, `GET /` with `Connection: close`, read to EOF, close);
- concurrent: 100 connections opened at once (non-blocking connects from one
  epoll loop), each sends one `GET /` with `Connection: close` and reads to EOF;
  timed from the first connect to the last EOF.
Every response is checked (200, body `Hello, World!`). Repeated `--reps` times
(default 5) interleaved across models, a fresh server each time; medians go to
bench/results/seq-vs-concurrent-<UTC date>.md.

Usage: python3 bench/seq-vs-concurrent.py [--quick] [--reps N] [--requests N] [--no-wait-quiet]
"""

import argparse
import errno
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

MODELS = ["reactor", "epoll", "threads", "fork", "iterative"]
REQ = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def check(data):
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200 ") or body != b"Hello, World!":
        return f"bad response {data[:80]!r}"
    return None


def sequential(port, n, timeout):
    errors = []
    t0 = time.perf_counter()
    for _ in range(n):
        s = socket.socket()
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(REQ)
            buf = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                buf += d
            e = check(buf)
            if e:
                errors.append(e)
        except OSError as e:
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            s.close()
    return time.perf_counter() - t0, errors


def concurrent(port, n, timeout):
    sel = selectors.DefaultSelector()
    errors = []
    bufs = {}
    t0 = time.perf_counter()
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        r = s.connect_ex(("127.0.0.1", port))
        if r not in (0, errno.EINPROGRESS):
            errors.append(f"connect: {os.strerror(r)}")
            s.close()
            continue
        bufs[s] = b""
        sel.register(s, selectors.EVENT_WRITE, "connecting")
    pending = len(bufs)
    deadline = time.time() + timeout
    while pending and time.time() < deadline:
        for key, ev in sel.select(timeout=0.5):
            s = key.fileobj
            if key.data == "connecting":
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    errors.append(f"connect: {os.strerror(err)}")
                    sel.unregister(s)
                    s.close()
                    pending -= 1
                    continue
                s.send(REQ)  # 56 bytes into an empty send buffer: all of it
                sel.modify(s, selectors.EVENT_READ, "reading")
            else:
                try:
                    d = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    errors.append(f"recv: {e}")
                    d = b""
                    bufs[s] = None
                if d:
                    bufs[s] += d
                    continue
                if bufs[s] is not None:
                    e = check(bufs[s])
                    if e:
                        errors.append(e)
                sel.unregister(s)
                s.close()
                pending -= 1
    elapsed = time.perf_counter() - t0
    if pending:
        errors.append(f"{pending} request(s) unfinished after {timeout} s")
        for key in list(sel.get_map().values()):
            key.fileobj.close()
    sel.close()
    return elapsed, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, no quiet-machine wait")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per model (default 5)")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--wait-quiet", dest="wait_quiet", action="store_true", default=None)
    ap.add_argument("--no-wait-quiet", dest="wait_quiet", action="store_false")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    reps = a.reps or (1 if a.quick else 5)
    wait_quiet = (not a.quick) if a.wait_quiet is None else a.wait_quiet
    models = [m for m in a.models.split(",") if m]
    c.raise_nofile(65536)
    quiet_note = c.wait_quiet() if wait_quiet else "Quiet-machine check skipped (--quick / --no-wait-quiet)."
    if not a.no_build:
        c.build("hello")
    c.machine_facts()  # commit and date as of the build, before the run
    tmp = c.tmpdir("osprey-bench-seq-")
    results = {m: {"seq": [], "conc": [], "errors": [], "anomalies": []} for m in models}
    started = c.utc_now()
    for rep in range(1, reps + 1):
        for model in models:
            out = os.path.join(tmp, f"{model}-{rep}.out")
            err = os.path.join(tmp, f"{model}-{rep}.err")
            p = c.spawn([c.HELLO, "--listen", "127.0.0.1:0", "--model", model, "--workers", "2"],
                        stdout=open(out, "w"), stderr=open(err, "w"))
            port = c.wait_listening_line(out, p)
            c.http_get(port)  # warm-up
            seq, e1 = sequential(port, a.requests, 30)
            conc, e2 = concurrent(port, a.requests, 30)
            r = results[model]
            r["seq"].append(seq)
            r["conc"].append(conc)
            r["errors"] += e1 + e2
            alive = p.poll() is None
            code, leftovers = c.stop(p)
            if not alive:
                r["anomalies"].append(f"server died (exit {p.returncode})")
            elif code != 0:
                r["anomalies"].append(f"exit {code} after SIGTERM" if code is not None else "ignored SIGTERM for 5 s")
            if leftovers:
                r["anomalies"].append(f"{leftovers} leftover process(es) after exit")
            text = open(err).read().strip()
            if text:
                r["anomalies"].append(f"stderr: {text[:200]!r}")
            c.log(f"rep {rep} {model:9s} sequential {seq * 1000:8.1f} ms  concurrent {conc * 1000:8.1f} ms"
                  f"  errors {len(e1) + len(e2)}")
    date = c.utc_date()
    stem = f"seq-vs-concurrent-{date}" + ("-quick" if a.quick else "")
    n = a.requests
    lines = [f"# {n} sequential vs {n} concurrent requests ({date})", "",
             c.facts_md([
                 f"- Run: {started.strftime('%H:%M')}–{c.utc_now().strftime('%H:%M')} UTC; {reps} repetition(s) "
                 f"per model, interleaved, a fresh `examples/hello --workers 2` per repetition; medians "
                 f"(min–max) below",
                 f"- {quiet_note}",
             ]), "",
             f"**Sequential**: {n} requests one after another, each on a new connection (`Connection: close`, "
             f"read to EOF). **Concurrent**: {n} non-blocking connects issued at once from one epoll loop, each "
             f"sends one `GET /` with `Connection: close`; timed from the first connect to the last EOF. "
             f"The client is Python, so a few tens of µs per request are the client's own cost; "
             f"compare models with each other rather than with absolute numbers.", "",
             "| Model | Sequential | per request | Concurrent | per request | Sequential ÷ concurrent | Failed requests |",
             "|---|--:|--:|--:|--:|--:|--:|"]
    for model in models:
        r = results[model]
        s_med, c_med = c.median(r["seq"]), c.median(r["conc"])
        rng = lambda xs: f" ({min(xs) * 1000:.1f}–{max(xs) * 1000:.1f})" if len(xs) > 1 else ""  # noqa: E731
        lines.append(f"| {model} | {s_med * 1000:.1f} ms{rng(r['seq'])} | {s_med * 1e6 / n:.0f} µs | "
                     f"{c_med * 1000:.1f} ms{rng(r['conc'])} | {c_med * 1e6 / n:.0f} µs | "
                     f"{s_med / c_med:.2f}× | {len(r['errors'])} |")
    lines += ["", "## Anomalies", ""]
    any_anom = False
    for model in models:
        r = results[model]
        errs = sorted(set(r["errors"]))
        if errs:
            any_anom = True
            lines.append(f"- {model}: {len(r['errors'])} failed request(s): " + "; ".join(errs[:5]))
        for an in r["anomalies"]:
            any_anom = True
            lines.append(f"- {model}: {an}")
    if not any_anom:
        lines.append("None: every response was 200 `Hello, World!`, every server exited cleanly on SIGTERM.")
    lines.append("")
    c.write_markdown(stem, lines)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Osprey against nginx over TLS: keep-alive requests, handshakes, a 1 MiB file.

Both servers get the same ECDSA P-256 certificate (made with `openssl req` in
the run's temp dir), TLS 1.2 and 1.3, the same suites in the same order of
preference, session resumption (tickets, and nginx's shared session cache),
no access log, one worker on CPU 0 (`taskset -c 0`; nginx: its master, so the
worker inherits); every client runs on CPU 1. Osprey runs as the `epoll` and
the `reactor --workers 1` model (one thread each).

Measurements (a fresh server for each, after sanity requests over TLS):

- `hello`: `Hello, World!` over keep-alive HTTPS, `wrk -t1 -c64`
  (examples/hello vs nginx `return 200`): req/s, latency, server CPU/request.
- `full`, `resumed`: a new TLS 1.3 connection per request (HTTP/1.0 `GET /`,
  the server closes), with `openssl s_time -new` (full handshakes) or
  `-reuse` (every connection after the first resumes the first's session),
  CLIENTS processes in parallel on CPU 1: handshakes/s and server CPU per
  handshake. s_time prints `r` for each resumed connection; the script
  checks that `-new` resumed none and `-reuse` resumed all.
- `full-tls12`, `resumed-tls12`: the same with `-tls1_2`.
- `file`: a 1 MiB file over keep-alive HTTPS, `wrk -t1 -c16`
  (`osprey serve` vs nginx static): req/s, MB/s, server CPU/request.

Rounds are interleaved (round 1: every test × every target, round 2 the
same, ...; the target order rotates by one each round). Medians with
min–max over rounds go to bench/results/tls-<UTC date>.md with a chart
tls-<date>.svg; raw outputs to bench/results/raw/tls-<date>/.

Usage: bench/tls.sh [--quick] [--duration S] [--rounds N] [--targets nginx,epoll,reactor]
                    [--tests hello,full,resumed,full-tls12,resumed-tls12,file] [--clients N]
                    [--no-wait-quiet] [--pause-budget S] [--no-build]
Env:   BENCH_DURATION (s, default 10), BENCH_ROUNDS (default 3).
"""

import argparse
import hashlib
import os
import random
import re
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

TARGETS = ["nginx", "epoll", "reactor"]
TARGET_TEXT = {
    "nginx": "nginx, one worker",
    "epoll": "Osprey `--model epoll` (one event loop)",
    "reactor": "Osprey `--model reactor --workers 1` (one event loop)",
}
LABEL = {"nginx": "nginx", "epoll": "osprey epoll", "reactor": "osprey reactor"}
COLOURS = {"nginx": "#59a14f", "epoll": "#4e79a7", "reactor": "#f28e2b"}
SERVER_PIN, CLIENT_PIN = 0, 1

# kind "wrk": keep-alive requests with wrk; kind "handshake": one TLS
# connection per request with parallel `openssl s_time`.
TESTS = {
    "hello": dict(kind="wrk", conns=64, path="/", label="Hello, World! keep-alive", short="hello",
                  letter="a", goal=1.0),
    "full": dict(kind="handshake", mode="new", tls12=False, label="TLS 1.3 full handshake", short="full 1.3",
                 letter="b", goal=1.2),
    "resumed": dict(kind="handshake", mode="reuse", tls12=False, label="TLS 1.3 resumed handshake", short="resumed 1.3",
                    letter="b", goal=None),
    "full-tls12": dict(kind="handshake", mode="new", tls12=True, label="TLS 1.2 full handshake", short="full 1.2",
                       letter="b", goal=1.2),
    "resumed-tls12": dict(kind="handshake", mode="reuse", tls12=True, label="TLS 1.2 resumed handshake", short="resumed 1.2",
                          letter="b", goal=None),
    "file": dict(kind="wrk", conns=16, path="/f1m.bin", label="1 MiB file keep-alive", short="1 MiB file",
                 letter="c", goal=1.0),
}
FILE_NAME, FILE_SIZE = "f1m.bin", 1024 * 1024
# What rustls (0.23, ring provider) offers by default, in its order; nginx
# is configured to the same lists (TLS 1.2 suites, TLS 1.3 suites, groups).
TLS12_SUITES = ("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
                "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305")
TLS13_SUITES = "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"
GROUPS = "X25519:prime256v1:secp384r1"
# s_time without a CA store: it never enforces verification, and looking the
# self-signed issuer up in /etc/ssl/certs on every handshake only costs the
# client (which is the bottleneck) time.
S_TIME_OPTS = ["-no-CApath", "-no-CAfile", "-no-CAstore"]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 s per measurement, 1 round (smoke test)")
    ap.add_argument("--duration", type=int, default=None, help="seconds per measurement (default 10, env BENCH_DURATION)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 3, env BENCH_ROUNDS)")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--tests", default=",".join(TESTS))
    ap.add_argument("--clients", type=int, default=8,
                    help="parallel `openssl s_time` processes (all on CPU 1) for the handshake tests")
    ap.add_argument("--wait-quiet", dest="wait_quiet", action="store_true", default=None,
                    help="wait (up to 25 min) until no other process uses >10%% CPU (default unless --quick)")
    ap.add_argument("--no-wait-quiet", dest="wait_quiet", action="store_false",
                    help="no quiet wait at start (one 5 s check is still reported) and, unless "
                         "--pause-budget is given, no pauses before measurements")
    ap.add_argument("--pause-budget", type=int, default=None,
                    help="before each measurement, wait while other processes use >10%% of a CPU, "
                         "up to this many seconds in total over the run (default 900; 0 with --quick "
                         "or --no-wait-quiet)")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if a.pause_budget is None:
        a.pause_budget = 0 if a.quick or a.wait_quiet is False else 900
    c.finish_run_args(ap, a, {"targets": TARGETS, "tests": TESTS})
    if a.clients < 1:
        ap.error("--clients must be at least 1")
    return a


# ------------------------------------------------------------------ config


def nginx_tls_conf(prefix, port, cert, key, root):
    """One nginx.conf for every test: TLS as Osprey's defaults, `return 200
    "Hello, World!"` for `/`, and static.py's best static config for the
    file (`sendfile` stays on as there, but nginx cannot use it over TLS
    without kTLS, which Debian's build does not enable)."""
    http_extra = f"""    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    ssl_ciphers {TLS12_SUITES};
    ssl_conf_command Ciphersuites {TLS13_SUITES};
    ssl_ecdh_curve {GROUPS};
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    types {{
        application/octet-stream bin;
    }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    open_file_cache_errors on;
"""
    body = f"""        root {root};
        location / {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
        location = /{FILE_NAME} {{
        }}"""
    return c.nginx_conf(prefix, port, 1, 4096, body, http_extra=http_extra, listen_opts=" ssl")


def per_cpu_busy():
    """{cpu index: (busy ticks, total ticks)} from /proc/stat; busy is
    everything but idle and iowait (softirq included: on loopback, the TCP
    work of whichever side runs there)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+) (.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()]
                total = sum(v[:8])
                out[int(m.group(1))] = (total - v[3] - v[4], total)
    return out


def busy_pct(a, b, cpu):
    (b0, t0), (b1, t1) = a.get(cpu, (0, 0)), b.get(cpu, (0, 0))
    return 100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else None


# --------------------------------------------------------------------- run


class Run(c.WrkBench):
    def __init__(self, args):
        super().__init__("tls", args)
        # nginx's worker runs as an unprivileged user: it must reach the file
        # (mkdtemp makes the dir 0700). Certificate and key are read by the
        # master, as root, before it starts the worker.
        os.chmod(self.tmp, 0o711)
        self.root = os.path.join(self.tmp, "www")
        os.makedirs(self.root)
        os.chmod(self.root, 0o755)
        # static.py's f1m.bin: the same seeded bytes.
        data = random.Random(20261124).randbytes(FILE_SIZE)
        path = os.path.join(self.root, FILE_NAME)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.cert = os.path.join(self.tmp, "cert.pem")
        self.key = os.path.join(self.tmp, "key.pem")
        self.cert_cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "7", "-subj", "/CN=localhost",
                         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        subprocess.run(self.cert_cmd, check=True, capture_output=True, timeout=30)
        self.cert_text = c._cmd_out(["openssl", "x509", "-in", self.cert, "-noout", "-text"])
        self.conf_example = None
        self.negotiated = {}  # (target, "1.3"/"1.2") -> s_client -brief facts
        self.lua = {}

    def start(self, target, test, tag):
        """A fresh server for `test`; returns (process, port, stderr path, argv text)."""
        if target == "nginx":
            p, port, err, argv, conf_path = c.start_nginx(
                self.tmp, tag, lambda prefix, port: nginx_tls_conf(prefix, port, self.cert, self.key, self.root),
                1, pin=SERVER_PIN)
            if self.conf_example is None:
                self.conf_example = open(conf_path).read()
            return p, port, err, " ".join(argv)
        tls = ["--tls-cert", self.cert, "--tls-key", self.key]
        if test == "file":
            argv = [c.OSPREY, "serve", self.root, "--listen", "127.0.0.1:0", "--model", target,
                    "--workers", "1", "--quiet"] + tls
        else:
            argv = [c.HELLO, "--listen", "127.0.0.1:0", "--model", target, "--workers", "1"] + tls
        p, port, err = c.start_listening(argv, self.tmp, tag, pin=SERVER_PIN)
        return p, port, err, " ".join(argv)

    # ---------------------------------------------------------------- sanity

    def tls_context(self, tls12=False):
        ctx = ssl.create_default_context(cafile=self.cert)
        if tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def https_exchange(self, port, request, tls12=False, timeout=5.0):
        """Sends `request` over a verified TLS connection (the certificate
        must be ours, for the name localhost) and reads to EOF or, for a
        keep-alive request, one Content-Length response. Returns (status,
        headers, body, bytes received, TLS version, cipher)."""
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with self.tls_context(tls12).wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(request)
                if b"HTTP/1.0" in request.split(b"\r\n", 1)[0]:
                    buf = b""
                    while True:
                        try:
                            d = s.recv(65536)
                        except (ssl.SSLEOFError, ConnectionResetError):
                            break
                        if not d:
                            break
                        buf += d
                    head, _, body = buf.partition(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    headers = {k.strip().lower(): v.strip() for k, _, v in
                               (line.partition(":") for line in lines[1:])}
                    return int(lines[0].split()[1]), headers, body, len(buf), s.version(), s.cipher()[0]
                status, headers, body = c.read_response(s)
                return status, headers, body, None, s.version(), s.cipher()[0]

    def sanity(self, tag, port, test):
        """Checks the server over TLS the way the test will use it; returns
        a dict of facts for the raw file (and `close_len`, the bytes of the
        whole HTTP/1.0 exchange, for the handshake tests)."""
        t = TESTS[test]
        facts = {}
        try:
            if t["kind"] == "handshake":
                req = b"GET / HTTP/1.0\r\n\r\n"  # what s_time -www / sends
                status, headers, body, n, ver, cipher = self.https_exchange(port, req, t["tls12"])
                facts["close_len"] = n
                want_body = b"Hello, World!"
            else:
                req = f"GET {t['path']} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
                status, headers, body, _, ver, cipher = self.https_exchange(port, req)
                want_body = None if test == "file" else b"Hello, World!"
            facts.update(status=status, version=ver, cipher=cipher,
                         headers="; ".join(f"{k}: {v}" for k, v in headers.items()))
            want_ver = "TLSv1.2" if t.get("tls12") else "TLSv1.3"
            if status != 200:
                self.anomaly(f"{tag}: sanity request answered {status}")
            if want_body is not None and body != want_body:
                self.anomaly(f"{tag}: sanity body {body[:40]!r}, want {want_body!r}")
            if test == "file" and (len(body) != FILE_SIZE or hashlib.sha256(body).hexdigest() != self.sha256):
                self.anomaly(f"{tag}: sanity GET /{FILE_NAME}: {len(body)} bytes, sha256 "
                             f"{hashlib.sha256(body).hexdigest()[:12]}, want {FILE_SIZE} bytes, {self.sha256[:12]}")
            if ver != want_ver:
                self.anomaly(f"{tag}: negotiated {ver}, want {want_ver}")
        except Exception as e:  # noqa: BLE001
            self.anomaly(f"{tag}: sanity request failed: {e}")
        return facts

    def s_client_facts(self, port, tls12):
        """What `openssl s_client -brief` (the client s_time is built on, with
        its defaults) negotiates: protocol, suite, signature, key exchange."""
        argv = ["openssl", "s_client", "-brief", "-connect", f"127.0.0.1:{port}"] + (["-tls1_2"] if tls12 else [])
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
            text = r.stdout + r.stderr
        except subprocess.TimeoutExpired:
            return {"error": "s_client timed out"}
        facts = {}
        for key in ("Protocol version", "Ciphersuite", "Signature type", "Hash used", "Server Temp Key",
                    "Peer signature type", "Negotiated TLS1.3 group"):
            m = re.search(rf"^{key}: (.*)$", text, re.M)
            if m:
                facts[key] = m.group(1).strip()
        return facts

    # ------------------------------------------------------------ measurement

    def lua_path(self, conns):
        if conns not in self.lua:
            path = os.path.join(self.tmp, f"done-c{conns}.lua")
            with open(path, "w") as f:
                f.write(c.lua_done(conns))
            self.lua[conns] = path
        return self.lua[conns]

    def measure(self, test, target, rnd):
        t = TESTS[test]
        tag = f"{test}-{target}-r{rnd}"
        p, port, errfile, server_cmd = self.start(target, test, tag)
        rec = dict(test=test, target=target, round=rnd, threads=1,
                   conns=t["conns"] if t["kind"] == "wrk" else self.args.clients)
        facts = self.sanity(tag, port, test)
        rec["sanity"] = facts
        if t["kind"] == "handshake":
            key = (target, "1.2" if t["tls12"] else "1.3")
            if key not in self.negotiated:
                self.negotiated[key] = self.s_client_facts(port, t["tls12"])
        cpu_a = per_cpu_busy()
        try:
            if t["kind"] == "wrk":
                ok = self.measure_wrk(test, target, rnd, tag, p, port, server_cmd, facts, rec)
            else:
                ok = self.measure_handshakes(test, target, rnd, tag, p, port, server_cmd, facts, rec)
        finally:
            cpu_b = per_cpu_busy()
            for problem in c.server_exit_problems(tag, p, errfile, nonzero_exit_ok=target == "nginx"):
                self.anomaly(problem)
        if ok:
            rec["cpu0_busy_pct"] = busy_pct(cpu_a, cpu_b, SERVER_PIN)
            rec["cpu1_busy_pct"] = busy_pct(cpu_a, cpu_b, CLIENT_PIN)
            c.log(f"  {tag:28s} {rec['rps']:>9.0f} /s  cpu {rec['cpu_us_per_req'] or 0:7.1f} us/op  cores srv "
                  f"{rec['server_cores']:.2f} (waiting {rec['server_wait']:.2f}) client {rec['wrk_cores']:.2f}  CPU0/1 busy "
                  f"{rec['cpu0_busy_pct']:.0f}/{rec['cpu1_busy_pct']:.0f}%  errors {sum(rec['errors'].values())}  "
                  f"other {rec['other_cpu_pct']:.0f}%")
        self.results.append(rec)
        return rec

    def measure_wrk(self, test, target, rnd, tag, p, port, server_cmd, facts, rec):
        a = self.args
        t = TESTS[test]
        argv = c.wrk_argv(1, t["conns"], a.duration, self.lua_path(t["conns"]),
                          f"https://127.0.0.1:{port}{t['path']}", pin=CLIENT_PIN)
        raw_path = os.path.join(self.rawdir, f"{tag}.txt")
        acct = c.run_wrk(argv, p.pid, raw_path, [
            f"server: {server_cmd} (pinned to CPU {SERVER_PIN})",
            f"client: {' '.join(argv)}",
            f"sanity: {facts}"], a.duration)
        if acct["timed_out"]:
            self.anomaly(f"{tag}: wrk did not finish in time; killed")
        parsed, _ = c.parse_bench_lines(acct["text"])
        if "requests" not in parsed or "p50_us" not in parsed:
            self.anomaly(f"{tag}: could not parse wrk output (see {os.path.relpath(raw_path, c.BENCH_DIR)})")
            return False
        rec.update(c.wrk_fields(parsed, acct["server_s"], acct["wrk_s"], acct["wall"], acct["other_pct"]))
        rec.update(server_run=acct["server_run_s"] / acct["wall"], server_wait=acct["server_wait_s"] / acct["wall"])
        problem = c.latency_check(tag, parsed, parsed["requests"], t["conns"])
        if problem:
            self.anomaly(problem)
        with open(raw_path, "a") as f:
            f.write(f"# server cpu {acct['server_s']:.2f} s, wrk cpu {acct['wrk_s']:.2f} s, other processes "
                    f"{acct['other_pct']:.1f}% of the machine, wall {acct['wall']:.1f} s\n")
        return True

    def measure_handshakes(self, test, target, rnd, tag, p, port, server_cmd, facts, rec):
        a = self.args
        t = TESTS[test]
        argv = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-" + t["mode"], "-time",
                str(a.duration), "-www", "/"] + (["-tls1_2"] if t["tls12"] else []) + S_TIME_OPTS
        argvs = [["taskset", "-c", str(CLIENT_PIN)] + argv for _ in range(a.clients)]
        raw_paths = [os.path.join(self.rawdir, f"{tag}-client{i}.txt") for i in range(a.clients)]
        acct = c.run_clients(argvs, p.pid, raw_paths, [
            f"server: {server_cmd} (pinned to CPU {SERVER_PIN})",
            f"client ({a.clients} in parallel): {' '.join(argvs[0])}",
            f"sanity: {facts}"], a.duration + 1)
        if acct["timed_out"]:
            self.anomaly(f"{tag}: {acct['timed_out']} s_time process(es) did not finish in time; killed")
        resumed = full = conns = 0
        rate = 0.0
        errors = {"not resumed": 0, "resumed with -new": 0, "short reads": 0, "no summary": 0}
        per_conn = []
        for i, (text, wall) in enumerate(zip(acct["texts"], acct["walls"])):
            marks = "".join(line for line in text.splitlines() if re.fullmatch(r"[*rt3]+", line))
            r, f_ = marks.count("r"), len(marks) - marks.count("r")
            m = re.search(r"^(\d+) connections in \d+ real seconds, (\d+) bytes read per connection", text, re.M)
            if not m:
                errors["no summary"] += 1
                self.anomaly(f"{tag}: client {i}: no s_time summary (see raw file)")
                continue
            n, per = int(m.group(1)), int(m.group(2))
            per_conn.append(per)
            if len(marks) != n:
                self.anomaly(f"{tag}: client {i}: {len(marks)} progress marks for {n} connections")
            if t["mode"] == "new":
                errors["resumed with -new"] += r
                done = f_
            else:
                errors["not resumed"] += f_
                done = r
            want = facts.get("close_len")
            if want and abs(per - want) > 1:
                errors["short reads"] += n
            resumed += r
            full += f_
            conns += n
            rate += done / wall if wall > 0 else 0
        if not conns:
            self.anomaly(f"{tag}: no connections counted")
            return False
        if any(errors.values()):
            self.anomaly(f"{tag}: " + ", ".join(f"{k} {v}" for k, v in errors.items() if v) +
                         f" (bytes per connection {sorted(set(per_conn))}, want {facts.get('close_len')})")
        # every connection the server handled in the window: -reuse's first
        # (full) one per client included
        handled = conns + (a.clients if t["mode"] == "reuse" else 0)
        server_s, client_s, wall = acct["server_s"], acct["client_s"], acct["wall"]
        rec.update(
            requests=handled, rps=rate, bytes=sum(per_conn) // max(1, len(per_conn)) * handled,
            full=full, resumed=resumed, bytes_per_conn=per_conn,
            p50_us=None, p99_us=None, errors=errors,
            server_cpu_s=server_s, wrk_cpu_s=client_s,
            cpu_us_per_req=server_s * 1e6 / handled, client_cpu_us_per_req=client_s * 1e6 / handled,
            other_cpu_pct=acct["other_pct"], wall_s=wall, client_walls=acct["walls"],
            server_cores=server_s / wall, wrk_cores=client_s / wall,
            server_run=acct["server_run_s"] / wall, server_wait=acct["server_wait_s"] / wall)
        with open(raw_paths[0], "a") as f:
            f.write(f"# all {a.clients} clients: {conns} connections ({full} full, {resumed} resumed), "
                    f"{rate:.0f} handshakes/s; server cpu {server_s:.2f} s, clients cpu {client_s:.2f} s, "
                    f"other processes {acct['other_pct']:.1f}% of the machine, wall {wall:.1f} s\n")
        return True

    def run(self):
        a = self.args
        n = a.rounds * len(a.tests) * len(a.targets)
        c.log(f"{n} measurements of {a.duration} s (~{n * (a.duration + 2.5) / 60:.1f} min)")
        self.started = c.utc_now()
        for rnd in range(1, a.rounds + 1):
            c.log(f"round {rnd}/{a.rounds}")
            k = (rnd - 1) % len(a.targets)
            order = a.targets[k:] + a.targets[:k]
            for test in a.tests:
                for target in order:
                    self.pause_while_busy()
                    self.measure(test, target, rnd)
        self.finished = c.utc_now()


# ------------------------------------------------------------------ report


def fmt_num(x):
    """Axis and bar labels: 12.3k above 1000, three digits below."""
    if x is None:
        return "—"
    return c.fmt_rps(x) if x >= 1000 else f"{x:.3g}"


def fmt_range(m):
    return f" [{c.fmt_rps(m['rps_min'])}–{c.fmt_rps(m['rps_max'])}]" if m["n"] > 1 else ""


def limit_of(m):
    """Which side limited a measurement, from the medians. The server's
    threads were on a CPU (run) or runnable and waiting for one (wait) for a
    fraction of the wall time (/proc schedstat); the rest they slept, waiting
    for the client. run + wait ≥ 0.9: the server always had work, so it was
    the limit: on its own (run ≥ 0.9) or because other processes shared CPU
    0 with it. Otherwise the client was: on its own (≥ 0.9 of CPU 1) or
    sharing CPU 1 with other processes (CPU 1 ≥ 90% busy); else neither."""
    run, wait = m.get("srv_run"), m.get("srv_wait")
    if run is not None and wait is not None and run + wait >= 0.9:
        return "server" if run >= 0.9 else "server (CPU 0 shared)"
    if m["wrk_cores"] is not None and m["wrk_cores"] >= 0.9:
        return "client"
    if (m.get("cpu1") or 0) >= 90:
        return "client (CPU 1 shared)"
    return "neither saturated"


def write_report(run, quiet_note, versions):
    a = run.args
    summ = c.summarize([r for r in run.results if "rps" in r], ("test", "target"))
    for key, m in summ.items():
        rs = [r for r in run.results if (r["test"], r["target"]) == key and "rps" in r]
        m["cpu0"] = c.median([r.get("cpu0_busy_pct") for r in rs])
        m["cpu1"] = c.median([r.get("cpu1_busy_pct") for r in rs])
        m["client_cpu"] = c.median([r.get("client_cpu_us_per_req") for r in rs])
        m["srv_run"] = c.median([r.get("server_run") for r in rs])
        m["srv_wait"] = c.median([r.get("server_wait") for r in rs])
        m["cpu_min"] = min((r["cpu_us_per_req"] for r in rs), default=None)
        m["cpu_max"] = max((r["cpu_us_per_req"] for r in rs), default=None)
    osprey = [t for t in a.targets if t != "nginx"]
    lines = [f"# TLS: Osprey vs nginx ({run.date})", ""]
    lines.append(c.facts_md([
        f"- Tools: {versions['wrk']}; {versions['nginx']} (Debian nginx-light, {versions['nginx_ssl']}); "
        f"{versions['openssl']} (`openssl s_time`, `s_client`, `req`); Osprey's TLS: rustls {versions['rustls']} "
        f"with ring {versions['ring']}; Python {sys.version.split()[0]}",
        f"- Run: {run.started.strftime('%H:%M')}–{run.finished.strftime('%H:%M')} UTC; {a.duration} s per "
        f"measurement, {a.rounds} round(s), interleaved (each round: every test × {', '.join(a.targets)}, the "
        f"target order rotated by one per round); a fresh server per measurement, after sanity requests over "
        f"verified TLS; medians over rounds",
        f"- Setup: one worker each, the server pinned to CPU 0 (`taskset -c 0`; nginx: its master, so the "
        f"worker inherits), every client pinned to CPU 1 (the `percore` setup of hello.sh / static.sh)",
        f"- {not_quiet_during_run(run.results, quiet_note)}{quiet_note}" + c.noise_note(run.results) +
        (f" Before each measurement the driver waited while another process used >10% of a CPU: "
         f"{run.paused:.0f} s in total (budget {a.pause_budget} s)." if a.pause_budget else
         " No pauses before measurements (pause budget 0)."),
    ]))
    lines += [
        "",
        "Targets: " + "; ".join(f"**{LABEL[t]}**: {TARGET_TEXT[t]}" for t in a.targets) + ". Every server has "
        "the same certificate (ECDSA P-256, self-signed for localhost and 127.0.0.1, made at the start with "
        f"`{' '.join(run.cert_cmd).replace(run.tmp, 'TMP')}`), TLS 1.2 and 1.3, the same suites and key exchange "
        "groups in the same order of preference (rustls's defaults; nginx configured to match), the server's "
        "preference, resumption by session tickets (both) and a session cache (nginx `shared:SSL:10m`, Osprey "
        "20,000 sessions for TLS 1.2 session ids), no access log.",
        "",
        "Commands (PORT, TMP vary; full lines in the raw files):",
        "",
        "```",
        "examples/hello --listen 127.0.0.1:0 --model {epoll|reactor} --workers 1 --tls-cert TMP/cert.pem "
        "--tls-key TMP/key.pem    # (a), (b)",
        f"osprey serve TMP/www --listen 127.0.0.1:0 --model {{epoll|reactor}} --workers 1 --quiet "
        f"--tls-cert TMP/cert.pem --tls-key TMP/key.pem    # (c)",
        "nginx -p PREFIX/ -c PREFIX/nginx.conf -e /dev/null -g 'daemon off;'    # config below",
        f"taskset -c 1 wrk -t1 -c64 -d{a.duration}s --latency --timeout 2s -s done.lua https://127.0.0.1:PORT/  # (a)",
        f"taskset -c 1 openssl s_time -connect 127.0.0.1:PORT {{-new|-reuse}} -time {a.duration} -www / "
        f"[-tls1_2] {' '.join(S_TIME_OPTS)}    # (b), {a.clients} at once",
        f"taskset -c 1 wrk -t1 -c16 -d{a.duration}s --latency --timeout 2s -s done.lua "
        f"https://127.0.0.1:PORT/{FILE_NAME}    # (c)",
        "```",
        "",
    ]
    negot = []
    for (target, ver), f in sorted(run.negotiated.items(), key=lambda kv: (a.targets.index(kv[0][0]), kv[0][1])):
        if f:
            negot.append(f"{LABEL[target]} (TLS {ver}): " + ", ".join(f"{k} {v}" for k, v in f.items()))
    if negot:
        lines += ["Negotiated with `openssl s_client -brief` (s_time's defaults): " + "; ".join(negot) + ".", ""]

    # ---- summary against the goals
    lines += ["## Osprey ÷ nginx against the targets", "",
              "| Test | Osprey | measured ratio | server CPU per op, nginx ÷ Osprey | target | limited by (osprey / nginx) |",
              "|---|---|--:|--:|---|---|"]
    for test in a.tests:
        t = TESTS[test]
        b = summ.get((test, "nginx"))
        for target in osprey:
            m = summ.get((test, target))
            if not m or not b or not m["rps"] or not b["rps"]:
                continue
            ratio = m["rps"] / b["rps"]
            cap = b["cpu"] / m["cpu"] if m["cpu"] and b["cpu"] else None
            rr, rc = per_round_ratios(run.results, test, target)
            lines.append(f"| ({t['letter']}) {t['label']} | {target} | **{ratio:.2f}×**{rr} | "
                         f"{'—' if cap is None else f'**{cap:.2f}×**'}{rc} | {goal_text(test, ratio, cap, m, b)} | "
                         f"{limit_of(m)} / {limit_of(b)} |")
    lines += ["",
              "**measured ratio**: Osprey's req/s (or handshakes/s) median ÷ nginx's. **server CPU per op, nginx ÷ "
              "Osprey**: how many more requests (handshakes) Osprey serves per CPU-second than nginx (> 1: Osprey "
              "needs less CPU). In parentheses, with more than one round: the min–max over rounds of the same "
              "ratio taken within each round (Osprey and nginx measured a minute or less apart), which shows how "
              "much the load of other processes moved it. The targets are judged on the ratios of the medians. Where the client limited both servers, only the second ratio compares the "
              "servers: it is what the handshake targets are judged on. **limited by** (from the medians): "
              "`server` when the server's threads ran ≥ 0.9 of the wall time; `server (CPU 0 shared)` when they "
              "ran or were runnable but waiting for CPU 0 (other processes had it) ≥ 0.9 of the time: the server "
              "always had work; otherwise the server slept part of the time waiting for the client: `client` when "
              "the client processes used ≥ 0.9 of CPU 1, `client (CPU 1 shared)` when CPU 1 was ≥ 90% busy with "
              "them and other processes, else `neither saturated`.", ""]

    # ---- the three tables
    wrk_cols = ("| Server | req/s median [min–max] | {mb}vs nginx | CPU/req median [min–max] | CPU vs nginx | target | "
                "p50 | p99 | cores srv / wrk | srv waiting | CPU 0 / CPU 1 busy | limited by | wrk errors | others |")
    for letter, title in (("a", "(a) `Hello, World!` over keep-alive HTTPS (wrk -t1 -c64)"),
                          ("b", f"(b) A new TLS connection per request (`openssl s_time`, {a.clients} processes "
                                f"on CPU 1)"),
                          ("c", f"(c) A 1 MiB file over keep-alive HTTPS (wrk -t1 -c16)")):
        tests = [x for x in a.tests if TESTS[x]["letter"] == letter]
        if not tests:
            continue
        lines += [f"## {title}", ""]
        if letter == "b":
            lines.append("| Handshake | Server | handshakes/s median [min–max] | vs nginx | server CPU/handshake "
                         "median [min–max] | CPU vs nginx | target | client CPU/handshake | cores srv / clients "
                         "| srv waiting | CPU 0 / CPU 1 busy | limited by | resumed / full | failures | others |")
            lines.append("|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|---|--:|---|--:|")
        else:
            mb = "MB/s | " if letter == "c" else ""
            lines.append(wrk_cols.format(mb=mb))
            lines.append("|---|--:|" + ("--:|" if letter == "c" else "") + "--:|--:|--:|---|--:|--:|--:|--:|--:|---|---|--:|")
        for test in tests:
            b = summ.get((test, "nginx"))
            for target in a.targets:
                m = summ.get((test, target))
                if not m:
                    continue
                if m["rps"] is None:
                    lines.append(f"| {TESTS[test]['label'] if letter == 'b' else LABEL[target]} | failed |")
                    continue
                ratio = m["rps"] / b["rps"] if b and b["rps"] else None
                cpu_ratio = m["cpu"] / b["cpu"] if b and b["cpu"] and m["cpu"] else None
                cap = 1 / cpu_ratio if cpu_ratio else None
                goal = "baseline" if target == "nginx" else goal_text(test, ratio, cap, m, b)
                cpu = f"{m['cpu']:.1f} µs" + (f" [{m['cpu_min']:.1f}–{m['cpu_max']:.1f}]" if m["n"] > 1 else "")
                busy = (f"{m['cpu0']:.0f}% / {m['cpu1']:.0f}%" if m["cpu0"] is not None and m["cpu1"] is not None
                        else "—")
                busy = ("—" if m["srv_wait"] is None else f"{m['srv_wait']:.2f}") + " | " + busy
                common = (f"{'—' if ratio is None else f'{ratio:.2f}'} | {cpu} | "
                          f"{'—' if cpu_ratio is None else f'{cpu_ratio:.2f}'} | {goal} |")
                if letter == "b":
                    rs = [r for r in run.results if (r["test"], r["target"]) == (test, target) and "rps" in r]
                    res = f"{sum(r['resumed'] for r in rs):,} / {sum(r['full'] for r in rs):,}"
                    lines.append(
                        f"| {TESTS[test]['label']} | {LABEL[target]} | **{c.fmt_rps(m['rps'])}**{fmt_range(m)} | "
                        f"{common} {m['client_cpu']:.0f} µs | {m['server_cores']:.2f} / {m['wrk_cores']:.2f} | "
                        f"{busy} | {limit_of(m)} | {res} | {c.fmt_errors(m['errors'])} | {m['other']:.0f}% |")
                else:
                    mb = f"{m['rps'] * FILE_SIZE / 1e6:,.0f} | " if letter == "c" else ""
                    lines.append(
                        f"| {LABEL[target]} | **{c.fmt_rps(m['rps'])}**{fmt_range(m)} | {mb}{common} "
                        f"{c.fmt_us(m['p50'])} | {c.fmt_us(m['p99'])} | {m['server_cores']:.2f} / "
                        f"{m['wrk_cores']:.2f} | {busy} | {limit_of(m)} | {c.fmt_errors(m['errors'])} | "
                        f"{m['other']:.0f}% |")
        lines.append("")

    lines += [
        "Columns: **req/s**, **handshakes/s** median over rounds [min–max]; handshakes/s is, per round, the sum "
        "over the s_time processes of (connections that were full, resp. resumed) ÷ (that process's wall time); "
        "**vs nginx** ÷ nginx's median; **CPU/req**, **server CPU/handshake**: user+sys time of the server's "
        "whole process tree (every thread; nginx master + worker) during the run ÷ responses (handshakes: every "
        "connection the server handled, the first full one of each `-reuse` client included), in clock ticks "
        "of 10 ms, median [min–max]; **CPU vs nginx** the same ÷ nginx's (lower is better); **client "
        "CPU/handshake**: user+sys of all s_time processes ÷ connections; **cores srv / wrk (clients)**: CPU "
        "time ÷ wall time of the server and of the client process(es) (1.00 = one core); **srv waiting**: time "
        "the server's threads were runnable but waiting for a CPU (other processes had CPU 0) ÷ wall time, from "
        "/proc/PID/task/TID/schedstat, median; **CPU 0 / CPU 1 "
        "busy**: how busy each core was over the run from /proc/stat (non-idle time of every process plus "
        "interrupts, the loopback TCP work in softirq included), median; **limited by** see above; **resumed "
        "/ full**: connections s_time marked resumed (`r`) and not, summed over rounds; **failures**: "
        "connections resumed under `-new` or not resumed under `-reuse`, connections whose bytes read differ "
        "from the sanity response's, clients without a summary; **p50/p99**: wrk's latency with its "
        "coordinated-omission correction undone (hello.sh's `done()`); **wrk errors** summed over rounds; "
        "**others**: the most CPU other processes used during any round, in % of the machine.",
        "",
        "Notes:",
        "",
        "- Client for (b): `openssl s_time` does both kinds of handshake and says which it got: `-new` starts "
        "every connection without a session, `-reuse` offers the first connection's session every time, and it "
        "prints `r` for each connection that resumed (counted above; a `-new` run with any `r`, or a `-reuse` "
        "run with anything else, is reported as a failure). Each connection sends `GET / HTTP/1.0` and reads to "
        "EOF, so every handshake carries one request and response, checked by its size. wrk cannot do full "
        "handshakes: with `Connection: close` it reconnects on the same `SSL` object after `SSL_clear()`, which "
        "keeps the session, so every reconnection resumes (seen in nginx's `$ssl_session_reused` log while "
        "choosing the client).",
        "- One s_time process does one connection at a time, and OpenSSL 3.0's client spends more CPU on a "
        "handshake than either server (column client CPU/handshake), so the clients on CPU 1 keep a fast server "
        "busy only part of the time (columns srv waiting, limited by): the handshake rate measures the client "
        "as much as the server. Server CPU per handshake is the fair comparison: the cost of the handshake (and "
        "of accepting, reading, answering and closing the connection) on each server, whatever the rate.",
        "- TLS 1.3 resumption is `psk_dhe_ke` on both (OpenSSL's client offers only that; rustls accepts only "
        "that), so a resumed TLS 1.3 handshake still does an X25519 exchange but no certificate signature; a "
        "resumed TLS 1.2 handshake (ticket) does neither. After a TLS 1.3 handshake rustls sends 2 tickets, "
        "OpenSSL 2 after a full and 1 after a resumed one.",
        "- Over TLS neither server can use `sendfile` (no kTLS): both read the file and encrypt it in user space, "
        "in records of up to 16 KiB. With 1 MiB bodies wrk reads 8 KiB per `read()` and decrypts, so the client "
        "is often the limit in (c).",
        "- Kernel work done in softirq context (the loopback TCP path) is charged to no process, so it is in "
        "neither server's CPU/req; it does show in **CPU 0 / CPU 1 busy**.",
        "",
        "The nginx config (one for every test; `/` answers `Hello, World!`, `/f1m.bin` is the static file):",
        "",
        "```nginx",
        (run.conf_example or "(nginx not run)").strip().replace(run.tmp, "/tmp/osprey-bench-tls-XXXX"),
        "```",
        "",
        f"- Raw outputs: `bench/results/raw/{run.stem}/` (one file per wrk measurement, one per s_time process, "
        "with the exact server and client command lines and the sanity results); all numbers in `results.json` "
        "there.",
        "",
    ]
    lines += [f"- {m}" for m in run.notes]
    lines += ["", "## Anomalies", ""]
    if run.anomalies:
        lines += [f"- {m}" for m in run.anomalies]
    else:
        lines.append("None: every sanity request over verified TLS returned 200 with the expected body and TLS "
                     "version, every s_time connection resumed exactly as asked and read a full response, no "
                     "server crashed or wrote to stderr, every server exited cleanly on SIGTERM.")
    lines += ["", f"![TLS: Osprey vs nginx]({run.stem}.svg)", ""]
    numbers = dict(args=vars(a), versions=versions, negotiated={f"{k[0]} TLS {k[1]}": v
                                                                  for k, v in run.negotiated.items()},
                   results=run.results, anomalies=run.anomalies)
    md_path = c.write_run(run, lines, numbers)
    svg_path = os.path.join(c.RESULTS, f"{run.stem}.svg")
    with open(svg_path, "w") as f:
        f.write(svg_chart(summ, a, run.date))
    return md_path, svg_path


def per_round_ratios(results, test, target):
    """(' (a–b)' for req/s Osprey ÷ nginx, ' (a–b)' for CPU/op nginx ÷ Osprey),
    min–max over the rounds of each round's own ratio; empty with one round."""
    by_round = {}
    for r in results:
        if r["test"] == test and "rps" in r:
            by_round.setdefault(r["round"], {})[r["target"]] = r
    rps, cpu = [], []
    for pair in by_round.values():
        o, n = pair.get(target), pair.get("nginx")
        if o and n:
            if o["rps"] and n["rps"]:
                rps.append(o["rps"] / n["rps"])
            if o["cpu_us_per_req"] and n["cpu_us_per_req"]:
                cpu.append(n["cpu_us_per_req"] / o["cpu_us_per_req"])

    def rng(xs):
        return f" ({min(xs):.2f}–{max(xs):.2f})" if len(xs) > 1 else ""
    return rng(rps), rng(cpu)


def not_quiet_during_run(results, quiet_note):
    """A bold lead for the header's quiet line when other processes used more
    than 10% of the machine during a measurement, unless the start check
    already said the machine was not quiet."""
    busy = [r for r in results if r.get("other_cpu_pct", 0) > 10]
    if not busy or "NOT quiet" in quiet_note:
        return ""
    return (f"**Machine NOT quiet during the run** ({len(busy)} of {len(results)} measurements saw other "
            f"processes above 10% of the machine). ")


def goal_text(test, ratio, cap, m, b):
    """The target cell of an Osprey row: the goal and whether it is met."""
    goal = TESTS[test]["goal"]
    if goal is None or ratio is None:
        return "—"
    if test == "hello":
        ok = ratio >= goal and cap is not None and cap > 1
        return f"≥ {goal:.1f}× req/s and lower CPU/req {'✓' if ok else '✗'}"
    if TESTS[test]["kind"] == "handshake":
        if cap is None:
            return f"≥ {goal:.1f}× —"
        # Judged per CPU (the fair comparison while the servers are not
        # saturated); the rate ratio counts too once both servers are.
        both_server_bound = limit_of(m) == "server" and limit_of(b) == "server"  # each on a whole core
        ok = cap >= goal and (ratio >= goal or not both_server_bound)
        return (f"≥ {goal:.1f}× {'✓' if ok else '✗'} (per CPU {cap:.2f}×, rate {ratio:.2f}×"
                + ("" if both_server_bound else "; judged per CPU: the servers did not both have a whole core busy") + ")")
    return f"≥ {goal:.1f}× req/s {'✓' if ratio >= goal else '✗'}"


def svg_chart(summ, a, date):
    get = lambda test, t, f="rps": (summ.get((test, t)) or {}).get(f)  # noqa: E731
    panels = []
    for letter, title, unit in (("a", "(a) Hello, World! over keep-alive HTTPS — requests/s", "req/s"),
                                ("b", "(b) a new TLS connection per request — handshakes/s", "hs/s"),
                                ("c", "(c) 1 MiB file over keep-alive HTTPS — requests/s", "req/s")):
        groups = [(TESTS[x]["short"], {LABEL[t]: get(x, t) for t in a.targets})
                  for x in a.tests if TESTS[x]["letter"] == letter]
        if groups:
            panels.append((title, groups))
    rel = []
    for x in a.tests:
        base = get(x, "nginx", "cpu")
        rel.append((TESTS[x]["short"], {LABEL[t]: (get(x, t, "cpu") / base if base and get(x, t, "cpu") else None)
                                        for t in a.targets}))
    panels.append(("server CPU per request / handshake ÷ nginx's (lower is better; nginx = 1)", rel))
    return c.svg_bar_chart(f"TLS: Osprey vs nginx, one core each (median of {a.rounds}, {a.duration} s each) — {date}",
                           [(LABEL[t], COLOURS[t]) for t in a.targets], panels, panel_h=200, fmt=fmt_num)


# -------------------------------------------------------------------- main


def tool_versions():
    wrk_v, ngx_v = c.tool_versions()
    ngx_ssl = "?"
    m = re.search(r"built with (OpenSSL [^\s]+)", c._cmd_out([c.nginx_bin(), "-V"]))
    if m:
        ngx_ssl = m.group(1)
    lock = open(os.path.join(c.REPO, "Cargo.lock")).read()

    def locked(name):
        m = re.search(rf'name = "{name}"\nversion = "([^"]+)"', lock)
        return m.group(1) if m else "?"
    return dict(wrk=wrk_v, nginx=ngx_v, nginx_ssl=ngx_ssl, openssl=c._cmd_out(["openssl", "version"]),
                rustls=locked("rustls"), ring=locked("ring"))


def main():
    a = parse_args()
    c.ensure_apt("wrk", "wrk")
    c.ensure_apt("nginx", "nginx-light")
    c.ensure_apt("openssl", "openssl")
    os.makedirs(c.RAW, exist_ok=True)
    c.raise_nofile(65536)
    if not a.no_build:
        if any(t != "nginx" for t in a.targets):
            if any(TESTS[x]["kind"] == "handshake" or x == "hello" for x in a.tests):
                c.build("hello")
            if "file" in a.tests:
                c.build("osprey")
    # After the build (minutes on 2 CPUs), so the note describes the machine
    # as the measurements start.
    quiet_note = c.wait_quiet() if a.wait_quiet else c.quiet_check_once()
    c.machine_facts()  # commit and date as of the build, before the run
    versions = tool_versions()
    run = Run(a)
    run.run()
    md, svg = write_report(run, quiet_note, versions)
    c.log(f"wrote {os.path.relpath(md)} and {os.path.relpath(svg)}")
    print(open(md).read())


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Memory per idle keep-alive connection: Osprey `epoll` vs nginx (1 worker).

For each step N (default 1k, 10k, 25k, 50k) a fresh server is started, then N
keep-alive connections are opened; each sends one `GET /`, reads its response
and stays open and idle. The server's VmRSS is read before and after, and the
connections are checked:
- server side: descriptors the server holds (/proc/PID/fd) beyond its baseline;
- client side: every socket still open (MSG_PEEK finds no EOF/reset);
- a random sample of 100 sends a second `GET /` and must get a 200.
All of it happens well inside Osprey's 15 s keep-alive timeout (the elapsed
time from the first connect to the end of the check is reported).

Sources: client sockets bind to 127.1.x.y (IP_BIND_ADDRESS_NO_PORT), at most
10,000 per address, so the ephemeral port range (28k ports per source address
by default) is never exhausted. The fd limit is raised to 200,000 (root).

Writes bench/results/idle-<UTC date>.md.
Usage: python3 bench/idle-connections.py [--quick] [--steps 1000,10000,...] [--no-wait-quiet]
"""

import argparse
import errno
import multiprocessing
import os
import random
import selectors
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

IP_BIND_ADDRESS_NO_PORT = 24
PER_SOURCE = 10000
IN_FLIGHT = 500
REQ = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def response_complete(buf):
    """True when buf holds one whole Content-Length response (head + body)."""
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return False
    head = buf[:i].decode("latin-1").lower()
    n = 0
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip() == "content-length":
            n = int(v)
    return len(buf) >= i + 4 + n


def status_of(buf):
    try:
        return int(buf.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def open_idle(port, n, src_base, timeout, stall=3.0):
    """Opens n keep-alive connections, each doing one GET. Gives up when no
    connection completes for `stall` seconds (e.g. the server is out of
    descriptors). Returns (sockets that completed, failures {reason: count},
    seconds)."""
    sel = selectors.DefaultSelector()
    done, failures = [], {}
    started = opened = 0
    bufs = {}
    t0 = time.perf_counter()
    deadline = time.time() + timeout
    last_progress = time.time()

    def fail(s, why):
        failures[why] = failures.get(why, 0) + 1
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        bufs.pop(s, None)

    while (started < n or bufs) and time.time() < deadline:
        if time.time() - last_progress > stall:
            break
        while started < n and len(bufs) < IN_FLIGHT:
            idx = started
            src = f"127.1.{src_base + idx // PER_SOURCE // 250}.{idx // PER_SOURCE % 250 + 1}"
            s = socket.socket()
            s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.setblocking(False)
            started += 1
            try:
                s.bind((src, 0))
            except OSError as e:
                failures[f"bind: {e.strerror}"] = failures.get(f"bind: {e.strerror}", 0) + 1
                s.close()
                continue
            r = s.connect_ex(("127.0.0.1", port))
            if r not in (0, errno.EINPROGRESS):
                failures[f"connect: {os.strerror(r)}"] = failures.get(f"connect: {os.strerror(r)}", 0) + 1
                s.close()
                continue
            bufs[s] = None  # None: connecting
            sel.register(s, selectors.EVENT_WRITE)
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            if bufs.get(s, b"") is None:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(s, f"connect: {os.strerror(err)}")
                    continue
                try:
                    s.send(REQ)
                except OSError as e:
                    fail(s, f"send: {e.strerror}")
                    continue
                bufs[s] = b""
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError as e:
                fail(s, f"recv: {e.strerror}")
                continue
            if not d:
                fail(s, "closed before the response")
                continue
            bufs[s] += d
            if response_complete(bufs[s]):
                st = status_of(bufs[s])
                if st != 200:
                    fail(s, f"status {st}")
                    continue
                sel.unregister(s)
                del bufs[s]
                done.append(s)
                opened += 1
                last_progress = time.time()
    for s in list(bufs):
        fail(s, f"no response (gave up after {stall:.0f} s without progress)")
    if started < n:
        failures["not attempted (gave up)"] = n - started
    sel.close()
    return done, failures, time.perf_counter() - t0


def client_side_open(socks):
    """How many sockets have neither EOF nor an error pending."""
    alive = 0
    for s in socks:
        try:
            s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def verify_sample(socks, k, timeout=5.0):
    """Sends a second GET on k random connections; returns (ok, failures)."""
    sample = random.sample(socks, min(k, len(socks)))
    sel = selectors.DefaultSelector()
    bufs = {}
    failures = {}
    for s in sample:
        try:
            s.send(REQ)
            bufs[s] = b""
            sel.register(s, selectors.EVENT_READ)
        except OSError as e:
            failures[f"send: {e.strerror}"] = failures.get(f"send: {e.strerror}", 0) + 1
    ok = 0
    deadline = time.time() + timeout
    while bufs and time.time() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError as e:
                d, why = b"", f"recv: {e.strerror}"
            else:
                why = "closed"
            if not d:
                failures[why] = failures.get(why, 0) + 1
                sel.unregister(s)
                del bufs[s]
                continue
            bufs[s] += d
            if response_complete(bufs[s]):
                if status_of(bufs[s]) == 200:
                    ok += 1
                else:
                    failures[f"status {status_of(bufs[s])}"] = failures.get(f"status {status_of(bufs[s])}", 0) + 1
                sel.unregister(s)
                del bufs[s]
    if bufs:
        failures["no answer in 5 s"] = len(bufs)
    sel.close()
    return ok, failures


def client_worker(conn, port, n, src_base, sample_k):
    """One client process (a process holds at most RLIMIT_NOFILE sockets):
    open n connections, report, check on request, close on request."""
    socks, failures, open_s = open_idle(port, n, src_base, timeout=60)
    conn.send((len(socks), failures, open_s))
    if conn.recv() != "check":
        return
    alive = client_side_open(socks)
    ok, vfail = verify_sample(socks, sample_k) if sample_k else (0, {})
    conn.send((alive, ok, min(sample_k, len(socks)), vfail))
    conn.recv()
    for s in socks:
        s.close()
    conn.send("closed")


class Clients:
    """n connections spread over processes of at most `per_proc` each."""

    def __init__(self, port, n, per_proc, src_base, sample):
        ctx = multiprocessing.get_context("fork")
        k = max(1, -(-n // per_proc))
        shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
        samples = [round(sample * sh / n) for sh in shares]
        samples[-1] += sample - sum(samples)
        self.procs, self.conns = [], []
        for i, (sh, sk) in enumerate(zip(shares, samples)):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=client_worker, args=(child, port, sh, src_base + i, sk), daemon=True)
            p.start()
            self.procs.append(p)
            self.conns.append(parent)

    def opened(self):
        total, failures, slowest = 0, {}, 0.0
        for conn in self.conns:
            n, f, t = conn.recv()
            total += n
            slowest = max(slowest, t)
            for k, v in f.items():
                failures[k] = failures.get(k, 0) + v
        return total, failures, slowest

    def check(self):
        for conn in self.conns:
            conn.send("check")
        alive = ok = sampled = 0
        vfail = {}
        for conn in self.conns:
            a, o, sn, f = conn.recv()
            alive, ok, sampled = alive + a, ok + o, sampled + sn
            for k, v in f.items():
                vfail[k] = vfail.get(k, 0) + v
        return alive, ok, sampled, vfail

    def close(self):
        for conn in self.conns:
            conn.send("close")
        for conn in self.conns:
            conn.recv()
        for p in self.procs:
            p.join(timeout=10)


def start_osprey(tmp, tag):
    out = os.path.join(tmp, f"{tag}.out")
    err = os.path.join(tmp, f"{tag}.err")
    p = c.spawn([c.HELLO, "--listen", "127.0.0.1:0", "--model", "epoll"],
                stdout=open(out, "w"), stderr=open(err, "w"))
    port = c.wait_listening_line(out, p)
    return p, port, p.pid, err


def start_nginx(tmp, tag, max_conns):
    prefix = os.path.join(tmp, f"nginx-{tag}")
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    port = c.free_port()
    conf = c.nginx_hello_conf(prefix, port, 1, max_conns + 1000,
                              extra_main=f"worker_rlimit_nofile {max_conns * 2 + 1000};",
                              listen_opts=" backlog=4096")
    conf_path = os.path.join(prefix, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    err = os.path.join(tmp, f"{tag}.err")
    p = c.spawn([c.nginx_bin(), "-p", prefix + "/", "-c", conf_path, "-e", "/dev/null", "-g", "daemon off;"],
                stdout=open(err, "w"), stderr=subprocess.STDOUT)
    c.wait_port(port, p)
    deadline = time.time() + 5
    workers = []
    while time.time() < deadline:
        workers = [pid for pid in c.descendants(p.pid) if pid != p.pid]
        if workers:
            break
        time.sleep(0.05)
    if not workers:
        raise RuntimeError("nginx worker did not start")
    return p, port, workers[0], err


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="steps 1000,5000; no quiet-machine wait")
    ap.add_argument("--steps", default=None, help="comma-separated connection counts (default 1000,10000,25000,50000)")
    ap.add_argument("--targets", default="osprey-epoll,nginx")
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--wait-quiet", dest="wait_quiet", action="store_true", default=None)
    ap.add_argument("--no-wait-quiet", dest="wait_quiet", action="store_false")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    steps = [int(x) for x in (a.steps or ("1000,5000" if a.quick else "1000,10000,25000,50000")).split(",")]
    targets = [t for t in a.targets.split(",") if t]
    wait_quiet = (not a.quick) if a.wait_quiet is None else a.wait_quiet
    c.ensure_apt("nginx", "nginx-light")
    with open("/proc/sys/fs/nr_open") as f:
        nr_open = int(f.read())
    limit = c.raise_nofile(200000)
    # Client processes hold at most this many sockets each; the server is
    # bounded by the same limit: steps above it show what happens at EMFILE,
    # and one extra step just below the limit shows the most it can hold.
    per_proc = max(100, min(15000, limit - 1000))
    below = (limit - 100) // 100 * 100
    if not a.steps and max(steps) > limit and below not in steps and below > 0:
        steps = sorted(steps + [below])
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        port_range = f.read().split()
    quiet_note = c.wait_quiet() if wait_quiet else "Quiet-machine check skipped (--quick / --no-wait-quiet)."
    if not a.no_build:
        c.build("hello")
    c.machine_facts()  # commit and date as of the build, before the run
    tmp = c.tmpdir("osprey-bench-idle-")
    rows = []
    anomalies = []
    started = c.utc_now()
    for ti, target in enumerate(targets):
        for si, n in enumerate(steps):
            tag = f"{target}-{n}"
            if target == "nginx":
                p, port, mem_pid, errfile = start_nginx(tmp, tag, max(steps))
            else:
                p, port, mem_pid, errfile = start_osprey(tmp, tag)
            c.http_get(port)  # warm-up
            time.sleep(0.3)
            rss0, fds0 = c.vm_rss_kib(mem_pid), c.fd_count(mem_pid)
            cpu0 = c.tree_cpu_ticks(p.pid)
            t0 = time.time()
            clients = Clients(port, n, per_proc, src_base=ti * 100 + si * 10, sample=a.sample)
            opened, failures, open_s = clients.opened()
            time.sleep(0.5)
            rss1, fds1 = c.vm_rss_kib(mem_pid), c.fd_count(mem_pid)
            client_open, ok, sampled, vfail = clients.check()
            elapsed = time.time() - t0
            cpu_s = (c.tree_cpu_ticks(p.pid) - cpu0) / c.CLK_TCK
            row = dict(target=target, n=n, opened=opened, failures=failures, open_s=open_s,
                       rss0=rss0, rss1=rss1, server_held=fds1 - fds0, client_open=client_open,
                       sample_ok=ok, sample_n=sampled, sample_fail=vfail, elapsed=elapsed, cpu_s=cpu_s,
                       per_conn=(rss1 - rss0) / opened if opened else None,
                       total_per_conn=rss1 / opened if opened else None)
            rows.append(row)
            c.log(f"{target:13s} N={n:6d} opened {opened:6d} in {open_s:5.1f} s  RSS {rss0 / 1024:7.1f} -> "
                  f"{rss1 / 1024:7.1f} MiB ({row['per_conn'] or 0:.2f} KiB/conn)  server fds +{fds1 - fds0}  "
                  f"client open {client_open}  sample {ok}/{sampled}  elapsed {elapsed:.1f} s  "
                  f"server cpu {cpu_s:.2f} s" + (f"  failures {failures}" if failures else "")
                  + (f"  sample failures {vfail}" if vfail else ""))
            if failures:
                anomalies.append(f"{tag}: {n - opened:,} of {n:,} connection(s) not established/answered: "
                                 + ", ".join(f"{k}: {v:,}" for k, v in failures.items()))
            if vfail:
                anomalies.append(f"{tag}: sample re-request failures: {vfail}")
            if target != "nginx" and elapsed > 13:
                anomalies.append(f"{tag}: the step took {elapsed:.1f} s, close to the 15 s keep-alive timeout")
            t_close = time.time()
            clients.close()
            alive = p.poll() is None
            code, leftovers = c.stop(p, grace=10)
            if not alive:
                anomalies.append(f"{tag}: server died (exit {p.returncode})")
            elif code != 0:
                anomalies.append(f"{tag}: exit {code} after SIGTERM" if code is not None
                                 else f"{tag}: did not exit within 10 s of SIGTERM")
            if leftovers:
                anomalies.append(f"{tag}: {leftovers} leftover process(es)")
            text = open(errfile).read().strip()
            if text:
                anomalies.append(f"{tag}: server stderr: {text[:300]!r}")
            c.log(f"  closed and stopped in {time.time() - t_close:.1f} s")
    date = c.utc_date()
    stem = f"idle-{date}" + ("-quick" if a.quick else "")
    lines = [f"# Idle keep-alive connections: memory per connection ({date})", "",
             c.facts_md([
                 f"- Run: {started.strftime('%H:%M')}–{c.utc_now().strftime('%H:%M')} UTC; steps "
                 f"{', '.join(f'{s:,}' for s in steps)}; a fresh server per step",
                 f"- Osprey: `examples/hello --model epoll` (one event loop; keep-alive timeout 15 s). "
                 f"nginx {c._cmd_out([c.nginx_bin(), '-v']).replace('nginx version: nginx/', '')}: "
                 f"`worker_processes 1`, `worker_connections {max(steps) + 1000}`, `keepalive_timeout 75s`, "
                 f"`access_log off` (RSS is the worker's)",
                 f"- Limits: open files {limit:,} per process (nr_open {nr_open:,})"
                 + (f" — **could not be raised to 200,000** (root here lacks CAP_SYS_RESOURCE), so a server "
                    f"holds at most ~{limit - 10:,} connections; steps above that show behaviour at EMFILE, "
                    f"and the client spreads its sockets over processes of ≤ {per_proc:,}" if limit < max(steps) + 100 else "")
                 + f"; ephemeral ports "
                 f"{port_range[0]}–{port_range[1]} per source address; clients bound to 127.1.x.y, "
                 f"≤ {PER_SOURCE:,} connections per source address, ≤ {IN_FLIGHT} connecting at a time",
                 f"- {quiet_note}",
             ]), "",
             "Each connection sends one `GET /`, reads the 200, then stays idle. **Δ RSS/conn** = (VmRSS after − "
             "before) ÷ connections: what one more idle connection costs in user space (kernel socket buffers "
             "are not in RSS). **RSS/conn** = VmRSS after ÷ connections (includes the baseline; nginx "
             "preallocates its `worker_connections` table at start). **Held**: descriptors the server holds "
             "beyond its baseline / sockets still open on the client side / random sample re-requesting "
             "`GET /` that got a 200. **Time**: opening all N; **elapsed**: first connect to the end of the "
             "checks (must stay below Osprey's 15 s keep-alive timeout); **Server CPU**: user+sys the server "
             "used during the step (a server spinning at EMFILE would show ~elapsed here).", "",
             "| Server | N | Opened | Time | RSS before | RSS after | Δ RSS/conn | RSS/conn | Held (server fds / client open / sample) | Elapsed | Server CPU |",
             "|---|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|"]
    for r in rows:
        held = f"{r['server_held']:,} / {r['client_open']:,} / {r['sample_ok']}/{r['sample_n']}"
        lines.append(
            f"| {r['target']} | {r['n']:,} | {r['opened']:,} | {r['open_s']:.1f} s | {r['rss0'] / 1024:.1f} MiB | "
            f"{r['rss1'] / 1024:.1f} MiB | **{r['per_conn']:.2f} KiB** | {r['total_per_conn']:.2f} KiB | "
            f"{held} | {r['elapsed']:.1f} s | {r['cpu_s']:.2f} s |")
    lines += ["", "Max held: the largest step fully held (every connection answered and open on both sides, "
              "whole sample answered), and the most connections held open at once in any step:", ""]
    for target in targets:
        mine = [r for r in rows if r["target"] == target]
        full = [r["n"] for r in mine if r["opened"] == r["n"] and r["client_open"] == r["n"]
                and r["server_held"] >= r["n"] and r["sample_ok"] == r["sample_n"]]
        most = max((min(r["client_open"], r["server_held"]) for r in mine), default=0)
        lines.append(f"- {target}: fully held up to {max(full):,}; at most {most:,} open at once"
                     if full else f"- {target}: no step fully held; at most {most:,} open at once")
    lines += ["", "## Anomalies", ""]
    lines += [f"- {m}" for m in anomalies] or ["None: every connection got its 200 and stayed open, every "
                                                "sampled connection answered a second request, every server "
                                                "exited cleanly on SIGTERM."]
    lines.append("")
    c.write_markdown(stem, lines)


if __name__ == "__main__":
    main()

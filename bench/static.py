#!/usr/bin/env python3
"""wrk against `osprey serve` and nginx serving the same static files.

The script writes three files into a temp dir (a 604-byte HTML page, a
16 KiB stylesheet, a 1 MiB binary) and serves that dir with nginx (its best
static config: sendfile, tcp_nopush, open_file_cache), nginx without
open_file_cache (`nginx-nocache`), and `osprey serve --quiet` (reactor
model). Setups as in hello.py: `percore` (one worker, server on CPU 0, wrk
-t1 -c64 on CPU 1) and `default` (2 workers, unpinned, wrk -t2 -c64).

Measurements are interleaved round by round (round 1: every setup × file ×
target, round 2 the same ...), each on a fresh server that first answers a
sanity GET with status 200 and exactly the file's bytes (SHA-256 checked).
Per measurement: responses/s, p50/p99 (wrk's latency correction undone),
server CPU per response, cores used by server and wrk, wrk errors, and CPU
used by other processes. Medians over rounds go to
bench/results/static-<UTC date>.md with a chart static-<date>.svg; raw wrk
outputs to bench/results/raw/static-<date>/.

`--syscalls` instead counts system calls per response (strace -c -f attached
to each server during a short percore wrk run) and writes
static-<date>-syscalls.md: strace slows the servers down a lot, so only the
counts per response mean something there.

With `--baseline REV` the `osprey` binary is also built from git revision
REV (in a detached worktree /tmp/osprey-baseline-<hash>, its own target dir)
and measured as the extra target `osprey@old` in the same rounds; the tables
get a `vs old` column (new ÷ old req/s and CPU per request).

Usage: bench/static.sh [--quick] [--duration S] [--rounds N] [--setups percore,default]
                       [--targets nginx,nginx-nocache,osprey,osprey@old] [--files f604.html,...]
                       [--baseline REV] [--no-wait-quiet] [--no-build] [--syscalls]
Env:   BENCH_DURATION (s, default 10), BENCH_ROUNDS (default 3).
"""

import argparse
import hashlib
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

TARGETS = ["nginx", "nginx-nocache", "osprey"]
TARGET_TEXT = {
    "nginx": "nginx, best static config (`open_file_cache` on)",
    "nginx-nocache": "nginx, same config without `open_file_cache` (nginx's default)",
    "osprey": "`osprey serve --quiet`, reactor model",
    "osprey@old": "the same, `osprey` built from the baseline commit",
}
SETUPS = {
    "percore": dict(c.WRK_SETUPS["percore"],
                    text="one worker each (`osprey serve --workers 1`, nginx `worker_processes 1`); "
                         "the server (nginx: its master, so the worker inherits) pinned to CPU 0 "
                         "with `taskset -c 0`; wrk `-t1 -c64` pinned to CPU 1"),
    "default": dict(c.WRK_SETUPS["default"],
                    text="servers unpinned; `osprey serve --workers 2`, nginx `worker_processes 2`; "
                         "wrk `-t2 -c64` unpinned"),
}
# (URL path without the slash, size in bytes, Content-Type both servers send).
FILES = [
    ("f604.html", 604, "text/html"),
    ("f16k.css", 16 * 1024, "text/css"),
    ("f1m.bin", 1024 * 1024, "application/octet-stream"),
]
FILE_LABEL = {"f604.html": "604 B HTML", "f16k.css": "16 KiB CSS", "f1m.bin": "1 MiB binary"}
COLOURS = {"nginx": "#59a14f", "nginx-nocache": "#9fd08f", "osprey": "#4e79a7", "osprey@old": "#a0cbe8"}
# What the report checks Osprey against (req/s ratio to nginx's best config).
GOALS = {("percore", "f604.html"): 1.3, ("percore", "f16k.css"): 1.15, ("percore", "f1m.bin"): 1.0,
         ("default", "f604.html"): 1.0, ("default", "f16k.css"): 1.0, ("default", "f1m.bin"): 1.0}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 s per measurement, 1 round (smoke test)")
    ap.add_argument("--duration", type=int, default=None, help="seconds per measurement (default 10, env BENCH_DURATION)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 3, env BENCH_ROUNDS)")
    ap.add_argument("--setups", default="percore,default")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--files", default=",".join(f for f, _, _ in FILES))
    ap.add_argument("--nginx-reuseport", action="store_true",
                    help="add `reuseport` to nginx's listen (like Osprey's reactor, one listener per worker)")
    ap.add_argument("--wait-quiet", dest="wait_quiet", action="store_true", default=None,
                    help="wait (up to 25 min) until no other process uses >10%% CPU (default unless --quick)")
    ap.add_argument("--no-wait-quiet", dest="wait_quiet", action="store_false")
    ap.add_argument("--pause-budget", type=int, default=None,
                    help="before each measurement, wait while other processes use >10%% of a CPU, "
                         "up to this many seconds in total over the run (default 900; 0 with --quick)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--syscalls", action="store_true",
                    help="count syscalls per response with strace instead (percore, 3 s per server × file)")
    ap.add_argument("--note", action="append", default=[],
                    help="a line added to the results header (e.g. why rounds were reduced)")
    c.add_baseline_arg(ap)
    a = ap.parse_args()
    if a.pause_budget is None:
        a.pause_budget = 0 if a.quick or a.syscalls else 900
    c.finish_run_args(ap, a, {"setups": SETUPS, "targets": TARGETS + ["osprey" + c.OLD], "files": FILE_LABEL})
    return c.finish_baseline_targets(ap, a, ["osprey"])


# ------------------------------------------------------------------ content


def file_contents(name, size):
    """Deterministic contents: an HTML page / a stylesheet padded to `size`
    exactly, or pseudo-random bytes (seeded) for the binary."""
    if name.endswith(".html"):
        head = ("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<title>Osprey static benchmark</title>\n<link rel=\"stylesheet\" href=\"/f16k.css\">\n"
                "</head>\n<body>\n<h1>A small page</h1>\n<p>")
        tail = "</p>\n</body>\n</html>\n"
        words = "The quick brown osprey dives for a fish and carries it back to the nest. "
        fill = (words * (size // len(words) + 1))[: size - len(head) - len(tail)]
        data = (head + fill + tail).encode()
    elif name.endswith(".css"):
        rules, i = [], 0
        while sum(len(r) for r in rules) < size:
            rules.append(f".c{i} {{ margin: {i % 7}px {i % 5}px; color: #{(i * 2654435761) % 0xffffff:06x}; }}\n")
            i += 1
        data = "".join(rules).encode()[:size - 1] + b"\n"
    else:
        data = random.Random(20261124).randbytes(size)
    assert len(data) == size, (name, len(data))
    return data


def nginx_static_conf(prefix, port, workers, root, open_file_cache, listen_opts=""):
    """The nginx static-file config (see bench/README.md): sendfile and
    tcp_nopush on, the three MIME types spelled out (nginx-light's
    mime.types would give the same), and with `open_file_cache` a cache of
    open descriptors and stat results (revalidated every 60 s, nginx's
    default `open_file_cache_valid`)."""
    ofc = ("    open_file_cache max=1000 inactive=60s;\n"
           "    open_file_cache_valid 60s;\n"
           "    open_file_cache_min_uses 1;\n"
           "    open_file_cache_errors on;\n") if open_file_cache else "    open_file_cache off;\n"
    types = "".join(f"        {ctype} {name.rsplit('.', 1)[1]};\n" for name, _, ctype in FILES)
    http_extra = (f"    types {{\n{types}    }}\n"
                  "    default_type application/octet-stream;\n"
                  "    sendfile on;\n"
                  "    tcp_nopush on;\n"
                  "    tcp_nodelay on;\n" + ofc)
    body = f"        root {root};\n        location / {{\n        }}"
    return c.nginx_conf(prefix, port, workers, 4096, body, http_extra=http_extra, listen_opts=listen_opts)


# --------------------------------------------------------------------- run


class Run(c.WrkBench):
    def __init__(self, args, baseline=None):
        super().__init__("static", args, suffix="-syscalls" if args.syscalls else None, baseline=baseline)
        self.root = os.path.join(self.tmp, "www")
        os.makedirs(self.root)
        # nginx's workers run as an unprivileged user: they must be able to
        # reach the files (mkdtemp makes the temp dir 0700).
        os.chmod(self.tmp, 0o711)
        os.chmod(self.root, 0o755)
        self.files = {}
        for name, size, ctype in FILES:
            data = file_contents(name, size)
            with open(os.path.join(self.root, name), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(self.root, name), 0o644)
            self.files[name] = dict(size=size, ctype=ctype, sha256=hashlib.sha256(data).hexdigest())
        self.lua_path = os.path.join(self.tmp, "done.lua")
        self.conf_example = None

    def start(self, setup, target, tag):
        """A fresh server; returns (process, port, stderr path, argv text)."""
        s = SETUPS[setup]
        if c.split_target(target)[0] == "osprey":
            binary = self.baseline["binary"] if c.split_target(target)[1] else c.OSPREY
            argv = [binary, "serve", self.root, "--listen", "127.0.0.1:0", "--model", "reactor",
                    "--workers", str(s["workers"]), "--quiet"]
            p, port, err = c.start_listening(argv, self.tmp, tag, pin=s["server_pin"])
            return p, port, err, " ".join(argv)
        reuse = " reuseport" if self.args.nginx_reuseport else ""
        ofc = target == "nginx"
        p, port, err, argv, conf_path = c.start_nginx(
            self.tmp, tag,
            lambda prefix, port: nginx_static_conf(prefix, port, s["workers"], self.root, ofc, reuse),
            s["workers"], pin=s["server_pin"])
        if ofc and self.conf_example is None:
            self.conf_example = open(conf_path).read()
        return p, port, err, " ".join(argv) + (f" (worker_processes {s['workers']}, open_file_cache "
                                              f"{'on' if ofc else 'off'}{reuse})")

    def sanity(self, tag, port, name):
        """GET the file: 200, the exact bytes; returns the response head text."""
        want = self.files[name]
        try:
            status, headers, body = c.http_get(port, "/" + name)
        except Exception as e:  # noqa: BLE001
            self.anomaly(f"{tag}: sanity GET /{name} failed: {e}")
            return ""
        if status != 200 or len(body) != want["size"] or hashlib.sha256(body).hexdigest() != want["sha256"]:
            self.anomaly(f"{tag}: sanity GET /{name} answered {status} with {len(body)} bytes "
                         f"(sha256 {hashlib.sha256(body).hexdigest()[:12]}), want 200, {want['size']} bytes "
                         f"(sha256 {want['sha256'][:12]})")
        elif not headers.get("content-type", "").startswith(want["ctype"]):
            self.anomaly(f"{tag}: sanity GET /{name}: Content-Type {headers.get('content-type')!r}, "
                         f"want {want['ctype']}")
        return "; ".join(f"{k}: {v}" for k, v in headers.items())

    def measure(self, setup, target, name, rnd):
        a = self.args
        s = SETUPS[setup]
        tag = f"{setup}-{name}-{target}-r{rnd}"
        conns, threads = s["conns"], s["wrk_threads"]
        p, port, errfile, server_cmd = self.start(setup, target, tag)
        rec = dict(setup=setup, target=target, file=name, round=rnd, conns=conns, threads=threads)
        head = self.sanity(tag, port, name)
        if not os.path.exists(self.lua_path):
            with open(self.lua_path, "w") as f:
                f.write(c.lua_done(conns))
        argv = c.wrk_argv(threads, conns, a.duration, self.lua_path, f"http://127.0.0.1:{port}/{name}",
                          pin=s["wrk_pin"])
        raw_path = os.path.join(self.rawdir, f"{tag}.txt")
        acct = c.run_wrk(argv, p.pid, raw_path, [
            f"server: {server_cmd}" +
            (f" (pinned to CPU {s['server_pin']})" if s["server_pin"] is not None else ""),
            f"client: {' '.join(argv)}",
            f"sanity response headers: {head}"], a.duration)
        if acct["timed_out"]:
            self.anomaly(f"{tag}: wrk did not finish in time; killed")
        for problem in c.server_exit_problems(tag, p, errfile, nonzero_exit_ok=target.startswith("nginx")):
            self.anomaly(problem)
        parsed, _ = c.parse_bench_lines(acct["text"])
        if "requests" not in parsed or "p50_us" not in parsed:
            self.anomaly(f"{tag}: could not parse wrk output (see {os.path.relpath(raw_path, c.BENCH_DIR)})")
            self.results.append(rec)
            return rec
        rec.update(c.wrk_fields(parsed, acct["server_s"], acct["wrk_s"], acct["wall"], acct["other_pct"]))
        problem = c.latency_check(tag, parsed, parsed["requests"], conns)
        if problem:
            self.anomaly(problem)
        with open(raw_path, "a") as f:
            f.write(f"# server cpu {acct['server_s']:.2f} s, wrk cpu {acct['wrk_s']:.2f} s, other processes "
                    f"{acct['other_pct']:.1f}% of the machine, wall {acct['wall']:.1f} s\n")
        errs = sum(rec["errors"].values())
        c.log(f"  {tag:36s} {rec['rps']:>9.0f} req/s  p50 {rec['p50_us']:>6.0f} us  p99 {rec['p99_us']:>6.0f} us"
              f"  cpu {rec['cpu_us_per_req'] or 0:6.1f} us/req  cores {rec['server_cores']:.2f}/"
              f"{rec['wrk_cores']:.2f}  errors {errs}  other {acct['other_pct']:.0f}%")
        self.results.append(rec)
        return rec

    def run(self):
        a = self.args
        n = a.rounds * len(a.setups) * len(a.files) * len(a.targets)
        c.log(f"{n} measurements of {a.duration} s (~{n * (a.duration + 1.5) / 60:.1f} min)")
        self.started = c.utc_now()
        for rnd in range(1, a.rounds + 1):
            c.log(f"round {rnd}/{a.rounds}")
            for setup in a.setups:
                for name in a.files:
                    for target in c.round_order(a.targets, rnd):
                        self.pause_while_busy()
                        self.measure(setup, target, name, rnd)
        self.finished = c.utc_now()


# ---------------------------------------------------------------- syscalls


def parse_strace_summary(text):
    """strace -c's table -> {syscall: calls}."""
    calls = {}
    for line in text.splitlines():
        parts = line.split()
        # % time, seconds, usecs/call, calls, [errors], syscall
        if len(parts) >= 5 and parts[0].replace(".", "", 1).isdigit() and parts[-1] != "total":
            try:
                calls[parts[-1]] = int(parts[3])
            except ValueError:
                pass
    return calls


def run_syscalls(run):
    """Per target × file (percore setup): strace -c -f on every process of
    the server during a 3 s wrk run; syscalls per response."""
    a = run.args
    s = SETUPS["percore"]
    rows = []
    for name in a.files:
        for target in a.targets:
            tag = f"syscalls-{name}-{target}"
            p, port, errfile, server_cmd = run.start("percore", target, tag)
            run.sanity(tag, port, name)
            # nginx: trace the workers (the master only waits); osprey: the
            # process, -f attaches to all its threads.
            pids = [q for q in c.descendants(p.pid) if q != p.pid] if target.startswith("nginx") else [p.pid]
            strace_out = os.path.join(run.rawdir, f"{tag}.strace")
            st = c.spawn(["strace", "-c", "-f", "-o", strace_out] + sum((["-p", str(q)] for q in pids), []))
            time.sleep(1.0)
            if not os.path.exists(run.lua_path):
                with open(run.lua_path, "w") as f:
                    f.write(c.lua_done(s["conns"]))
            argv = c.wrk_argv(1, s["conns"], 3, run.lua_path, f"http://127.0.0.1:{port}/{name}", pin=s["wrk_pin"])
            acct = c.run_wrk(argv, p.pid, os.path.join(run.rawdir, f"{tag}.txt"),
                             [f"server: {server_cmd}", f"client: {' '.join(argv)}", f"strace on pids {pids}"], 3)
            st.send_signal(signal.SIGINT)
            try:
                st.wait(timeout=10)
            except subprocess.TimeoutExpired:
                run.anomaly(f"{tag}: strace did not detach")
            c.stop(st, grace=0.2)
            c.server_exit_problems(tag, p, errfile, nonzero_exit_ok=True)
            parsed, _ = c.parse_bench_lines(acct["text"])
            n = int(parsed.get("requests", 0))
            calls = parse_strace_summary(open(strace_out).read()) if os.path.exists(strace_out) else {}
            rows.append(dict(file=name, target=target, responses=n, calls=calls))
            c.log(f"  {tag}: {n} responses, " + ", ".join(
                f"{k} {v / n:.2f}" for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:6] if n))
    lines = [f"# Static files: system calls per response, Osprey vs nginx ({run.date})", "",
             c.facts_md((c.baseline_md(run.baseline) if run.baseline else []) +
                        [f"- Tools: {'; '.join(c.tool_versions())}; {c._cmd_out(['strace', '-V']).splitlines()[0]}",
                         "- Setup `percore` (server on CPU 0, one worker; `wrk -t1 -c64` on CPU 1), 3 s per "
                         "server × file under `strace -c -f` (attached to nginx's worker / all of Osprey's "
                         "threads after a sanity GET). strace makes every syscall slow, so throughput here "
                         "means nothing and event-loop calls (epoll_wait) are batched differently than "
                         "at full speed; the per-response counts of read/write/sendfile are the point."]),
             ""]
    for name in a.files:
        sub = [r for r in rows if r["file"] == name]
        names = sorted({k for r in sub for k in r["calls"]},
                       key=lambda k: -max(r["calls"].get(k, 0) / max(1, r["responses"]) for r in sub))
        names = [k for k in names if any(r["calls"].get(k, 0) / max(1, r["responses"]) >= 0.01 for r in sub)]
        lines += [f"## {FILE_LABEL[name]} (`/{name}`)", "",
                  "| syscall | " + " | ".join(r["target"] for r in sub) + " |",
                  "|---|" + "--:|" * len(sub)]
        lines.append("| responses | " + " | ".join(f"{r['responses']:,}" for r in sub) + " |")
        total = " | ".join(f"**{sum(r['calls'].values()) / max(1, r['responses']):.2f}**" for r in sub)
        lines.append(f"| **all, per response** | {total} |")
        for k in names:
            lines.append(f"| {k} | " + " | ".join(
                f"{r['calls'].get(k, 0) / max(1, r['responses']):.3f}" for r in sub) + " |")
        lines.append("")
    lines += ["Raw strace summaries: " + f"`bench/results/raw/{run.stem}/syscalls-*.strace`.", ""]
    if run.anomalies:
        lines += ["## Anomalies", ""] + [f"- {m}" for m in run.anomalies] + [""]
    return c.write_markdown(run.stem, lines)


# ------------------------------------------------------------------ report


def mbps(rps, size):
    return f"{rps * size / 1e6:,.0f}" if rps else "—"


def write_report(run, quiet_note):
    a = run.args
    summ = c.summarize(run.results, ("setup", "file", "target"))
    base_line = run.baseline is not None
    cmp = c.vs_old(run.results, ("setup", "file", "target")) if base_line else {}
    wrk_v, ngx_v = c.tool_versions()
    lines = [f"# Static files: `osprey serve` vs nginx ({run.date})", ""]
    lines.append(c.facts_md((c.baseline_md(run.baseline) if base_line else []) + [
        f"- Tools: {wrk_v}; {ngx_v} (Debian nginx-light); Python {sys.version.split()[0]}",
        f"- Run: {run.started.strftime('%H:%M')}–{run.finished.strftime('%H:%M')} UTC; "
        f"{a.duration} s per measurement, {a.rounds} round(s), interleaved (each round: every setup × "
        f"file × {', '.join(a.targets)}"
        f"{'; `osprey` and `osprey@old` trade places in even rounds' if base_line else ''}); "
        f"a fresh server per measurement, after a sanity GET of the file "
        f"(status 200, exact size and SHA-256); medians over rounds",
        f"- {quiet_note}" + c.noise_note(run.results) +
        (f" Before each measurement the driver waited while another process used >10% of a CPU: "
         f"{run.paused:.0f} s in total (budget {a.pause_budget} s)." if a.pause_budget else ""),
    ] + [f"- {n}" for n in a.note]))
    lines += [
        "",
        "Files (generated, one dir served by every server): " + ", ".join(
            f"`/{n}` ({run.files[n]['size']:,} bytes, {run.files[n]['ctype']})" for n in a.files) + ". "
        "Osprey caches files ≤ 64 KiB in memory (revalidated by `stat` once per second) and sends larger "
        "ones with sendfile; nginx sends every file with sendfile (`open_file_cache` keeps the descriptor "
        "and stat result, not the bytes; the page cache holds them for both).",
        "",
        "Targets: " + "; ".join(f"**{t}**: {TARGET_TEXT[t]}" for t in a.targets) + ".",
        "",
        "Commands (PORT and DIR vary per measurement; full lines in the raw files):",
        "",
        "```",
        "osprey serve DIR --listen 127.0.0.1:0 --model reactor --workers N --quiet",
    ] + ([f"{run.baseline['binary']} serve DIR ...   # osprey@old: the same arguments"] if base_line else []) + [
        "nginx -p PREFIX/ -c PREFIX/nginx.conf -e /dev/null -g 'daemon off;'",
        "wrk -tT -c64 -d" + f"{a.duration}" + "s --latency --timeout 2s -s done.lua http://127.0.0.1:PORT/FILE",
        "```",
        "",
        "Columns: **req/s** median (min–max over rounds); **MB/s** body bytes per second (req/s × file size); "
        "**vs nginx** req/s ÷ the median of `nginx` (best config) in the same setup and file; **p50/p99** "
        "latency measured by wrk with its coordinated-omission correction undone (as in hello.sh), median "
        "over rounds; **CPU/req** user+sys time of the server's process tree (all threads; nginx master + "
        "workers) ÷ responses; **CPU vs nginx** the same against `nginx`; **cores srv / wrk** CPU time ÷ "
        "wall time of the server and of wrk (1.00 = one core busy; shows which side was the bottleneck); "
        "**resp. head** bytes per response wrk received minus the file size (status line and headers); "
        "**wrk errors** summed over rounds (connect/read/write/timeout; status = HTTP ≥ 400); **others** "
        "the most CPU that other processes used during any round, in % of the machine.",
        "",
    ]
    if base_line:
        lines += [c.VS_OLD_COLUMN_TEXT, ""]
        lines += c.vs_old_summary(cmp, lambda k: f"{k[0]} {FILE_LABEL[k[1]]} {k[2]}")
    base_of = lambda setup, name: summ.get((setup, name, "nginx"))  # noqa: E731
    # Summary against the goals.
    if "nginx" in a.targets and "osprey" in a.targets:
        lines += ["## Osprey ÷ nginx (best config)", "",
                  "| Setup | File | req/s ratio | goal | p99 osprey / nginx | CPU/req osprey / nginx |",
                  "|---|---|--:|--:|--:|--:|"]
        for setup in a.setups:
            for name in a.files:
                o, b = summ.get((setup, name, "osprey")), base_of(setup, name)
                if not o or not b or not o["rps"] or not b["rps"]:
                    continue
                ratio = o["rps"] / b["rps"]
                goal = GOALS.get((setup, name))
                mark = "" if goal is None else f"≥ {goal:.2f} {'✓' if ratio >= goal else '✗'}"
                p99 = f"{c.fmt_us(o['p99'])} / {c.fmt_us(b['p99'])}"
                p99 += " ✓" if o["p99"] <= b["p99"] else " ✗"
                cpu = f"{o['cpu']:.2f} / {b['cpu']:.2f} µs" if o["cpu"] and b["cpu"] else "—"
                lines.append(f"| {setup} | {FILE_LABEL[name]} | **{ratio:.2f}** | {mark} | {p99} | {cpu} |")
        lines += ["", "(✓/✗: req/s ratio against the goal; p99 ✓ when Osprey's is not higher.)", ""]
    for setup in a.setups:
        lines += [f"## Setup `{setup}`", "", SETUPS[setup]["text"] + ".", ""]
        lines.append("| File | Target | req/s | MB/s | vs nginx | p50 | p99 | CPU/req | CPU vs nginx | "
                     + ("vs old | " if base_line else "") + "cores srv / wrk | resp. head | wrk errors | others |")
        lines.append("|---|---|--:|--:|--:|--:|--:|--:|--:|" + ("---|" if base_line else "") + "--:|--:|---|--:|")
        for name in a.files:
            b = base_of(setup, name)
            for target in a.targets:
                m = summ.get((setup, name, target))
                if not m:
                    continue
                vs_old = f" {c.fmt_vs_old(cmp, (setup, name, target), target)} |" if base_line else ""
                if m["rps"] is None:
                    lines.append(f"| {FILE_LABEL[name]} | {target} | failed | | | | | | |{vs_old} | | | |")
                    continue
                ratio = f"{m['rps'] / b['rps']:.2f}" if b and b["rps"] else "—"
                cpu_ratio = f"{m['cpu'] / b['cpu']:.2f}" if b and b["cpu"] and m["cpu"] else "—"
                rng = f" ({c.fmt_rps(m['rps_min'])}–{c.fmt_rps(m['rps_max'])})" if m["n"] > 1 else ""
                head = m["bytes_per_resp"] - run.files[name]["size"] if m["bytes_per_resp"] else None
                lines.append(
                    f"| {FILE_LABEL[name]} | {target} | **{c.fmt_rps(m['rps'])}**{rng} | "
                    f"{mbps(m['rps'], run.files[name]['size'])} | {ratio} | "
                    f"{c.fmt_us(m['p50'])} | {c.fmt_us(m['p99'])} | {m['cpu']:.2f} µs | {cpu_ratio} |{vs_old} "
                    f"{m['server_cores']:.2f} / {m['wrk_cores']:.2f} | "
                    f"{'—' if head is None else f'{head:.0f} B'} | {c.fmt_errors(m['errors'])} | {m['other']:.0f}% |")
        lines.append("")
    lines += [
        "Notes:",
        "",
        "- CPU/req is counted in clock ticks (10 ms) over the whole wrk run. Kernel work done in softirq "
        "context (loopback TCP receive) and not charged to a task is in neither side's numbers.",
        "- With 1 MiB bodies wrk reads at most 8 KiB per read() (its receive buffer), so it is usually the "
        "bottleneck there (see cores srv / wrk); both servers face the same client.",
        "- The nginx config used (`nginx` target; `nginx-nocache` has `open_file_cache off;` instead of the "
        "four `open_file_cache*` lines):",
        "",
        "```nginx",
        (run.conf_example or "(nginx not run)").strip().replace(run.tmp, "/tmp/osprey-bench-static-XXXX"),
        "```",
        "",
        f"- Raw wrk outputs: `bench/results/raw/{run.stem}/` (one file per measurement, with the exact server "
        "and wrk command lines and the sanity response's headers); all numbers in `results.json` there.",
        "",
    ]
    lines += [f"- {m}" for m in run.notes]
    lines += ["", "## Anomalies", ""]
    if run.anomalies:
        lines += [f"- {m}" for m in run.anomalies]
    else:
        lines.append("None: every sanity GET returned 200 with the file's exact bytes, no server crashed or "
                     "wrote to stderr, every server exited cleanly on SIGTERM (wrk error counters are in the "
                     "tables).")
    lines += ["", f"![req/s per file and setup]({run.stem}.svg)", ""]
    numbers = dict(args=vars(a), files=run.files, results=run.results, anomalies=run.anomalies)
    if base_line:
        numbers.update(baseline=run.baseline, vs_old=[dict(setup=k[0], file=k[1], target=k[2], **v)
                                                      for k, v in cmp.items()])
    md_path = c.write_run(run, lines, numbers)
    panels = []
    for name in a.files:
        groups = []
        for setup in a.setups:
            bars = {t: (summ.get((setup, name, t)) or {}).get("rps") for t in a.targets}
            label = setup
            if bars.get("osprey") and bars.get("nginx"):
                label += f": osprey {bars['osprey'] / bars['nginx']:.2f}× nginx"
            groups.append((label, bars))
        panels.append((f"{FILE_LABEL[name]} (/{name})", groups))
    svg = c.svg_bar_chart(f"Static files, requests/s (median of {a.rounds}, {a.duration} s each) — {run.date}",
                          [(t, COLOURS[t]) for t in a.targets], panels, panel_h=220)
    svg_path = os.path.join(c.RESULTS, f"{run.stem}.svg")
    with open(svg_path, "w") as f:
        f.write(svg)
    return md_path, svg_path


def main():
    a = parse_args()
    c.ensure_apt("wrk", "wrk")
    c.ensure_apt("nginx", "nginx-light")
    if a.syscalls:
        c.ensure_apt("strace", "strace")
    os.makedirs(c.RAW, exist_ok=True)
    c.raise_nofile(65536)
    # The baseline's build can take minutes: before the quiet-machine wait.
    baseline = c.prepare_baseline(a.baseline, "osprey", not a.no_build) if a.baseline else None
    quiet_note = c.wait_quiet() if a.wait_quiet else "Quiet-machine check skipped (--quick / --no-wait-quiet)."
    if not a.no_build:
        c.build("osprey")
    c.machine_facts()  # commit and date as of the build, before the run
    run = Run(a, baseline)
    if a.syscalls:
        run_syscalls(run)
        return
    run.run()
    md, svg = write_report(run, quiet_note)
    c.log(f"wrote {os.path.relpath(md)} and {os.path.relpath(svg)}")
    print(open(md).read())


if __name__ == "__main__":
    main()

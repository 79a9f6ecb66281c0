#!/usr/bin/env python3
"""wrk against every Osprey model serving examples/hello, and against nginx.

One run measures, interleaved round by round (round 1: nginx, reactor, epoll,
threads, fork, iterative; round 2: the same ...), each target in two setups
(`default`: unpinned, 2 workers, wrk -t2 -c64; `percore`: one worker, server
pinned to CPU 0, wrk -t1 -c64 pinned to CPU 1), each without and with HTTP
pipelining (16 requests per write). Every measurement starts a fresh server.

Per measurement: responses/s, p50/p99 latency (from a wrk Lua done()), wrk's
error counters, and the server's CPU time per response (user+sys of the whole
process tree, reaped children included). The median over the rounds goes to
bench/results/hello-<UTC date>.md with a chart hello-<date>.svg; every raw
wrk output goes to bench/results/raw/hello-<date>/.

Usage: bench/hello.sh [--quick] [--duration S] [--rounds N] [--setups default,percore]
                      [--targets nginx,reactor,...] [--no-wait-quiet]
Env:   BENCH_DURATION (s, default 10), BENCH_ROUNDS (default 3).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

TARGETS = ["nginx", "reactor", "epoll", "threads", "fork", "iterative"]
SETUPS = {
    "default": dict(server_pin=None, workers=2, wrk_threads=2, wrk_pin=None, conns=64,
                    text="servers unpinned; Osprey `--workers 2` (only `reactor` uses it: "
                         "`epoll` is one loop, `threads`/`fork` one thread/process per connection, "
                         "`iterative` one connection at a time); nginx `worker_processes 2`; "
                         "wrk `-t2 -c64` unpinned"),
    "percore": dict(server_pin=0, workers=1, wrk_threads=1, wrk_pin=1, conns=64,
                    text="one worker each (Osprey `--workers 1`, nginx `worker_processes 1`); "
                         "the server (nginx: its master, so workers inherit) pinned to CPU 0 "
                         "with `taskset -c 0`; wrk `-t1 -c64` pinned to CPU 1"),
}
# iterative serves one connection at a time: with 64 keep-alive connections
# 63 would wait forever (wrk reports them as timeouts), so it gets one.
CONNS_OVERRIDE = {"iterative": 1}

# wrk 4.x "corrects" its latency histogram for coordinated omission before
# done() runs, using an expected interval of duration / (responses /
# connections). With pipelining wrk records one latency sample per batch while
# counting every response, so the interval is 16x too small and the corrected
# percentiles are garbage (0 µs, p99 < p50). done() therefore reads the
# histogram itself (LuaJIT FFI on wrk's `stats` struct: count, limit, min, max,
# data[]) and undoes the correction exactly (it only adds, top-down, the
# stride-`interval` suffix sums), giving the latencies actually measured. wrk's
# own corrected percentiles are printed too (wrk_p50_us, wrk_p99_us).
LUA_DONE = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { uint64_t count; uint64_t limit; uint64_t min; uint64_t max; uint64_t data[?]; } osprey_bench_stats;
]]
local CONNECTIONS = %(conns)d

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%%d duration_us=%%d bytes=%%d connect=%%d read=%%d write=%%d status=%%d timeout=%%d\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("BENCH wrk_p50_us=%%d wrk_p99_us=%%d\n",
    latency:percentile(50), latency:percentile(99)))
  local s = ffi.cast("osprey_bench_stats**", latency)[0]
  local mn, mx = tonumber(s.min), tonumber(s.max)
  if mx < mn then
    io.write("BENCH samples=0\n")
    return
  end
  local per = math.floor(summary.requests / CONNECTIONS)
  local iv = 0
  if per > 0 then iv = math.floor(summary.duration / per) end
  local n = mx - mn + 1
  local raw = ffi.new("double[?]", n)
  local suffix = ffi.new("double[?]", n)
  local total, negative = 0, 0
  for m = mx, mn, -1 do
    local o = tonumber(s.data[m])
    if iv > 0 and m > iv and m + iv <= mx then
      o = o - suffix[m + iv - mn]
    end
    if o < 0 then negative = negative + 1; o = 0 end
    raw[m - mn] = o
    local sm = o
    if iv > 0 and m + iv <= mx then sm = sm + suffix[m + iv - mn] end
    suffix[m - mn] = sm
    total = total + o
  end
  local ps = {50, 90, 99, 99.9}
  local out, k, cum, sum, maxv = {}, 1, 0, 0, mn
  for m = mn, mx do
    local o = raw[m - mn]
    if o > 0 then
      cum = cum + o
      sum = sum + o * m
      maxv = m
      while k <= #ps and cum >= math.ceil(ps[k] / 100 * total) do
        out[k] = m
        k = k + 1
      end
    end
  end
  io.write(string.format(
    "BENCH samples=%%d interval_us=%%d inversion_negative=%%d p50_us=%%d p90_us=%%d p99_us=%%d p999_us=%%d max_us=%%d mean_us=%%.1f\n",
    total, iv, negative, out[1] or 0, out[2] or 0, out[3] or 0, out[4] or 0, maxv,
    total > 0 and sum / total or 0))
end
"""

# The standard wrk pipeline.lua: wrk.format() concatenated DEPTH times and
# sent in one write; wrk counts each response, so requests/s = responses/s.
LUA_PIPELINE = r"""
init = function(args)
  local r = {}
  for i = 1, %(depth)d do
    r[i] = wrk.format(nil, "/")
  end
  req = table.concat(r)
end

request = function()
  return req
end
"""


# With one connection and pipelining, a fast server completes more than one
# response per µs on that connection; wrk's correction interval then rounds
# to 0 and stats_correct() loops forever after the run, so wrk never prints.
# For -c1 pipelined runs request() (called once per batch, right after the
# previous batch's last response) also times every batch with
# clock_gettime through the FFI and prints its own counts, flushed, once the
# run's duration minus 0.3 s has passed; the driver uses them if wrk hangs.
LUA_C1_TIMER = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } osprey_bench_ts;
int clock_gettime(int clk, osprey_bench_ts *ts);
]]
local ts = ffi.new("osprey_bench_ts")
local function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end
local WINDOW_US = %(window_us)d
local t_first, t_prev, batches, hist, reported = nil, nil, 0, {}, false

local function report(t)
  reported = true
  local keys = {}
  for k in pairs(hist) do keys[#keys + 1] = k end
  table.sort(keys)
  local ps, out, k, cum = {50, 90, 99, 99.9}, {}, 1, 0
  for _, v in ipairs(keys) do
    cum = cum + hist[v]
    while k <= #ps and cum >= math.ceil(ps[k] / 100 * batches) do out[k] = v; k = k + 1 end
  end
  io.write(string.format(
    "BENCHLUA batches=%%d elapsed_us=%%d p50_us=%%d p90_us=%%d p99_us=%%d p999_us=%%d max_us=%%d mean_us=%%.1f\n",
    batches, t - t_first, out[1] or 0, out[2] or 0, out[3] or 0, out[4] or 0, keys[#keys] or 0,
    batches > 0 and (t - t_first) / batches or 0))
  io.flush()
end

request = function()
  local t = now_us()
  if t_prev then
    local d = math.floor(t - t_prev)
    hist[d] = (hist[d] or 0) + 1
    batches = batches + 1
  else
    t_first = t
  end
  t_prev = t
  if not reported and t - t_first >= WINDOW_US then report(t) end
  return req
end
"""


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 s per measurement, 1 round (smoke test)")
    ap.add_argument("--duration", type=int, default=None, help="seconds per measurement (default 10, env BENCH_DURATION)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default 3, env BENCH_ROUNDS)")
    ap.add_argument("--setups", default="default,percore")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--pipeline", type=int, default=16, help="requests per write when pipelining")
    ap.add_argument("--nginx-reuseport", action="store_true",
                    help="add `reuseport` to nginx's listen (like Osprey's reactor, one listener per worker)")
    ap.add_argument("--wait-quiet", dest="wait_quiet", action="store_true", default=None,
                    help="wait (up to 25 min) until no other process uses >10%% CPU (default unless --quick)")
    ap.add_argument("--no-wait-quiet", dest="wait_quiet", action="store_false")
    ap.add_argument("--pause-budget", type=int, default=None,
                    help="before each measurement, wait while other processes use >10%% of a CPU, "
                         "up to this many seconds in total over the run (default 900; 0 with --quick)")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    if a.pause_budget is None:
        a.pause_budget = 0 if a.quick else 900
    if a.duration is None:
        a.duration = 2 if a.quick else int(os.environ.get("BENCH_DURATION", "10"))
    if a.rounds is None:
        a.rounds = 1 if a.quick else int(os.environ.get("BENCH_ROUNDS", "3"))
    if a.wait_quiet is None:
        a.wait_quiet = not a.quick
    a.setups = [s for s in a.setups.split(",") if s]
    a.targets = [t for t in a.targets.split(",") if t]
    for s in a.setups:
        if s not in SETUPS:
            ap.error(f"unknown setup {s}")
    for t in a.targets:
        if t not in TARGETS:
            ap.error(f"unknown target {t}")
    return a


class Run:
    def __init__(self, args):
        self.args = args
        self.tmp = c.tmpdir("osprey-bench-hello-")
        self.date = c.utc_date()
        suffix = "-quick" if args.quick else ""
        self.stem = f"hello-{self.date}{suffix}"
        self.rawdir = os.path.join(c.RAW, self.stem)
        os.makedirs(self.rawdir, exist_ok=True)
        self.results = []
        self.paused = 0.0
        self.anomalies = []
        self.notes = []

    # ---------------------------------------------------------------- servers

    def start_osprey(self, model, setup, tag):
        out = os.path.join(self.tmp, f"{tag}.out")
        err = os.path.join(self.tmp, f"{tag}.err")
        argv = [c.HELLO, "--listen", "127.0.0.1:0", "--model", model,
                "--workers", str(SETUPS[setup]["workers"])]
        p = c.spawn(argv, stdout=open(out, "w"), stderr=open(err, "w"), pin=SETUPS[setup]["server_pin"])
        port = c.wait_listening_line(out, p)
        return p, port, err, argv

    def start_nginx(self, setup, tag):
        prefix = os.path.join(self.tmp, f"nginx-{tag}")
        os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
        port = c.free_port()
        workers = SETUPS[setup]["workers"]
        reuse = " reuseport" if self.args.nginx_reuseport else ""
        conf = c.nginx_hello_conf(prefix, port, workers, 4096, listen_opts=reuse)
        conf_path = os.path.join(prefix, "nginx.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        err = os.path.join(self.tmp, f"{tag}.err")
        argv = [c.nginx_bin(), "-p", prefix + "/", "-c", conf_path, "-e", "/dev/null", "-g", "daemon off;"]
        p = c.spawn(argv, stdout=open(err, "w"), stderr=subprocess.STDOUT, pin=SETUPS[setup]["server_pin"])
        c.wait_port(port, p)
        # Wait until all workers exist so the CPU accounting covers them.
        deadline = time.time() + 5
        while len(c.descendants(p.pid)) < workers + 1 and time.time() < deadline:
            time.sleep(0.02)
        return p, port, err, argv + [f"(worker_processes {workers}{reuse})"]

    def lua(self, conns, pipelined):
        name = f"{'pipeline' if pipelined else 'plain'}-c{conns}.lua"
        path = os.path.join(self.tmp, name)
        if not os.path.exists(path):
            text = LUA_DONE % {"conns": conns}
            if pipelined:
                text = LUA_PIPELINE % {"depth": self.args.pipeline} + text
            if pipelined and conns == 1:
                text += LUA_C1_TIMER % {"window_us": max(0.5, self.args.duration - 0.3) * 1e6}
            with open(path, "w") as f:
                f.write(text)
        return path

    # ------------------------------------------------------------ measurement

    def measure(self, setup, target, pipelined, rnd):
        a = self.args
        s = SETUPS[setup]
        mode = "pipelined" if pipelined else "plain"
        tag = f"{setup}-{target}-{mode}-r{rnd}"
        conns = CONNS_OVERRIDE.get(target, s["conns"])
        threads = min(s["wrk_threads"], conns)
        if target == "nginx":
            p, port, errfile, server_argv = self.start_nginx(setup, tag)
        else:
            p, port, errfile, server_argv = self.start_osprey(target, setup, tag)
        rec = dict(setup=setup, target=target, mode=mode, round=rnd, conns=conns, threads=threads)
        try:
            status, _, body = c.http_get(port)
            if status != 200 or body != b"Hello, World!":
                self.anomaly(f"{tag}: sanity GET / answered {status} {body[:40]!r}")
        except Exception as e:  # noqa: BLE001
            self.anomaly(f"{tag}: sanity GET / failed: {e}")
        argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{a.duration}s", "--latency", "--timeout", "2s",
                "-s", self.lua(conns, pipelined), f"http://127.0.0.1:{port}/"]
        if s["wrk_pin"] is not None:
            argv = ["taskset", "-c", str(s["wrk_pin"])] + argv
        raw_path = os.path.join(self.rawdir, f"{tag}.txt")
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu0 = c.tree_cpu_ticks(p.pid)
        busy0 = c.system_busy_ticks()
        t0 = time.time()
        with open(raw_path, "w") as out:
            out.write(f"# server: {' '.join(server_argv)}" +
                      (f" (pinned to CPU {s['server_pin']})" if s["server_pin"] is not None else "") + "\n")
            out.write(f"# client: {' '.join(argv)}\n")
            out.flush()
            w = c.spawn(argv, stdout=out, stderr=subprocess.STDOUT)
            hung = False
            while w.poll() is None:
                el = time.time() - t0
                if el > a.duration + 30:
                    self.anomaly(f"{tag}: wrk did not finish in time; killed")
                    break
                if el > a.duration + 5 and conns == 1 and pipelined:
                    with open(raw_path) as f:
                        text = f.read()
                    if "BENCHLUA" in text and "BENCH requests" not in text:
                        hung = True  # in wrk's stats_correct(), see LUA_C1_TIMER
                        break
                time.sleep(0.2)
            c.stop(w, grace=0.2)
        wall = time.time() - t0
        cpu1 = c.tree_cpu_ticks(p.pid)
        busy1 = c.system_busy_ticks()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_alive = p.poll() is None
        code, leftovers = c.stop(p)
        if not server_alive:
            self.anomaly(f"{tag}: server died during the run (exit {p.returncode})")
        elif code not in (0, None) and target != "nginx":
            self.anomaly(f"{tag}: server exited with {code} after SIGTERM")
        elif code is None:
            self.anomaly(f"{tag}: server did not exit within 5 s of SIGTERM (killed)")
        if leftovers:
            self.anomaly(f"{tag}: {leftovers} process(es) of the server's group still alive after it exited")
        try:
            err_text = open(errfile).read().strip()
        except OSError:
            err_text = ""
        if err_text:
            self.anomaly(f"{tag}: server stderr: {err_text[:300]!r}")
        with open(raw_path) as f:
            text = f.read()
        parsed, lua = {}, {}
        for line in text.splitlines():
            if line.startswith("BENCH ") or line.startswith("BENCHLUA "):
                into = parsed if line.startswith("BENCH ") else lua
                for kv in line.split()[1:]:
                    k, v = kv.split("=")
                    into[k] = float(v)
        if hung and lua.get("batches"):
            # wrk hung after the run: take the request()-timer numbers.
            n = lua["batches"] * a.pipeline
            parsed = dict(requests=n, duration_us=lua["elapsed_us"], connect=0, read=0, write=0, status=0,
                          timeout=0, samples=lua["batches"], interval_us=0, inversion_negative=0,
                          wrk_p50_us=-1, wrk_p99_us=-1,
                          **{k: lua[k] for k in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us")})
            rec["lua_timer"] = True
            self.notes.append(f"{tag}: wrk hung after the run (one connection completing more than one "
                              f"response per µs makes wrk's latency-correction interval 0 and its loop endless); "
                              f"killed, and req/s and latency taken from the Lua request() timer over the first "
                              f"{lua['elapsed_us'] / 1e6:.1f} s; wrk's error counters unavailable for this run")
            with open(raw_path, "a") as f:
                f.write("# wrk hung in stats_correct() and was killed; numbers from BENCHLUA\n")
        if "requests" not in parsed or "p50_us" not in parsed:
            self.anomaly(f"{tag}: could not parse wrk output (see {os.path.relpath(raw_path, c.BENCH_DIR)})")
            self.results.append(rec)
            return rec
        server_s = (cpu1 - cpu0) / c.CLK_TCK
        wrk_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        busy_s = (busy1 - busy0) / c.CLK_TCK
        other_pct = max(0.0, 100.0 * (busy_s - server_s - wrk_s) / wall / os.cpu_count())
        server_cores = server_s / wall
        wrk_cores = wrk_s / wall
        if rec.get("lua_timer"):
            # The server worked for ~duration s; the timer counted the first
            # (duration - 0.3) s. wrk's CPU includes its endless loop.
            server_cores = server_s / a.duration
            server_s *= (lua["elapsed_us"] / 1e6) / a.duration
            wrk_cores = None
        n = parsed["requests"]
        rec.update(
            requests=int(n),
            rps=n / (parsed["duration_us"] / 1e6) if parsed["duration_us"] else 0,
            p50_us=parsed["p50_us"], p90_us=parsed["p90_us"], p99_us=parsed["p99_us"],
            p999_us=parsed["p999_us"], max_us=parsed["max_us"], mean_us=parsed["mean_us"],
            wrk_p50_us=parsed["wrk_p50_us"], wrk_p99_us=parsed["wrk_p99_us"],
            samples=int(parsed["samples"]), interval_us=int(parsed["interval_us"]),
            errors={k: int(parsed[k]) for k in ("connect", "read", "write", "status", "timeout")},
            server_cpu_s=server_s, wrk_cpu_s=wrk_s,
            cpu_us_per_req=server_s * 1e6 / n if n else None,
            other_cpu_pct=other_pct, wall_s=wall,
            server_cores=server_cores, wrk_cores=wrk_cores,
        )
        expected = n / a.pipeline if pipelined else n
        if parsed["inversion_negative"] or abs(parsed["samples"] - expected) > 0.01 * expected + conns:
            self.anomaly(f"{tag}: latency histogram check: {int(parsed['samples'])} samples after undoing "
                         f"wrk's correction, expected ~{expected:.0f} (negative bins "
                         f"{int(parsed['inversion_negative'])}); latency numbers doubtful")
        with open(raw_path, "a") as f:
            f.write(f"# server cpu {server_s:.2f} s, wrk cpu {wrk_s:.2f} s, other processes "
                    f"{other_pct:.1f}% of the machine, wall {wall:.1f} s\n")
        errs = sum(rec["errors"].values())
        c.log(f"  {tag:40s} {rec['rps']:>10.0f} req/s  p50 {rec['p50_us']:>7.0f} us  p99 {rec['p99_us']:>7.0f} us"
              f"  cpu {rec['cpu_us_per_req'] or 0:6.1f} us/req  errors {errs}  other {other_pct:.0f}%")
        self.results.append(rec)
        return rec

    def anomaly(self, msg):
        c.log("  ! " + msg)
        self.anomalies.append(msg)

    # ------------------------------------------------------------------- run

    def pause_while_busy(self):
        """Waits (polling every ~5 s) while another process is busy, within
        the run's total --pause-budget."""
        if self.paused >= self.args.pause_budget:
            return
        t0 = time.time()
        while self.paused + (time.time() - t0) < self.args.pause_budget:
            busy = c.busy_processes(window=2.0)
            if not busy:
                break
            c.log(f"  (pausing: {busy[0][0]:.0f}% `{busy[0][2][:60]}`)")
            time.sleep(3)
        self.paused += time.time() - t0

    def run(self):
        a = self.args
        n = a.rounds * len(a.setups) * len(a.targets) * 2
        c.log(f"{n} measurements of {a.duration} s (~{n * (a.duration + 1.5) / 60:.1f} min)")
        self.started = c.utc_now()
        for rnd in range(1, a.rounds + 1):
            c.log(f"round {rnd}/{a.rounds}")
            for setup in a.setups:
                for target in a.targets:
                    for pipelined in (False, True):
                        self.pause_while_busy()
                        self.measure(setup, target, pipelined, rnd)
        self.finished = c.utc_now()


# ------------------------------------------------------------------ report


def fmt_rps(x):
    if x is None:
        return "—"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    return f"{x / 1000:,.1f}k" if x >= 1000 else f"{x:,.0f}"


def fmt_us(x):
    if x is None:
        return "—"
    return f"{x / 1000:.2f} ms" if x >= 1000 else f"{x:.0f} µs"


def summarize(results):
    """(setup, target, mode) -> medians and sums over rounds."""
    groups = {}
    for r in results:
        groups.setdefault((r["setup"], r["target"], r["mode"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if "rps" in r]
        errors = {}
        for r in ok:
            for k, v in r["errors"].items():
                errors[k] = errors.get(k, 0) + v
        if any(r.get("lua_timer") for r in ok):
            errors["n/a in a round where wrk hung"] = 1
        out[key] = dict(
            n=len(ok), conns=rs[0]["conns"], threads=rs[0]["threads"],
            rps=c.median([r["rps"] for r in ok]),
            rps_min=min((r["rps"] for r in ok), default=None),
            rps_max=max((r["rps"] for r in ok), default=None),
            p50=c.median([r["p50_us"] for r in ok]),
            p99=c.median([r["p99_us"] for r in ok]),
            cpu=c.median([r["cpu_us_per_req"] for r in ok]),
            errors=errors,
            requests=sum(r["requests"] for r in ok),
            other=max((r["other_cpu_pct"] for r in ok), default=None),
            server_cores=c.median([r["server_cores"] for r in ok]),
            wrk_cores=c.median([r["wrk_cores"] for r in ok]),
        )
    return out


def fmt_errors(e):
    parts = [k if k.startswith("n/a") else f"{k} {v:,}" for k, v in e.items() if v]
    return ", ".join(parts) if parts else "0"


def noise_note(results):
    others = [r["other_cpu_pct"] for r in results if "other_cpu_pct" in r]
    if not others:
        return ""
    med, top = c.median(others), max(others)
    busy = sum(1 for o in others if o > 10)
    note = (f" During the run other processes used a median {med:.0f}% (max {top:.0f}%) of the machine "
            f"per measurement (column **others**)")
    if busy:
        note += (f"; {busy} of {len(others)} measurements saw more than 10%, so the machine did not stay "
                 f"quiet: compare within a round and treat absolute numbers with care")
    return note + "."


def write_report(run, quiet_note):
    a = run.args
    summ = summarize(run.results)
    lines = [f"# Hello, World! throughput: Osprey models vs nginx ({run.date})", ""]
    wrk_v = c._cmd_out(["wrk", "--version"]).splitlines()[0].split(" Copyright")[0].strip()
    ngx_v = c._cmd_out([c.nginx_bin(), "-v"]).replace("nginx version: ", "")
    lines.append(c.facts_md([
        f"- Tools: {wrk_v}; {ngx_v}; Python {sys.version.split()[0]}",
        f"- Run: {run.started.strftime('%H:%M')}–{run.finished.strftime('%H:%M')} UTC; "
        f"{a.duration} s per measurement, {a.rounds} round(s), interleaved "
        f"(each round: every setup × {', '.join(a.targets)} × plain/pipelined); "
        f"a fresh server per measurement; medians over rounds",
        f"- Pipelined = wrk Lua `request()` returning {a.pipeline} requests per write "
        f"(`wrk.format` concatenated); req/s counts responses; its latency is per batch of "
        f"{a.pipeline} (wrk records latency when the last response of a batch arrives)",
        f"- {quiet_note}" + noise_note(run.results) +
        (f" Before each measurement the driver waited while another process used >10% of a CPU: "
         f"{run.paused:.0f} s in total (budget {a.pause_budget} s)." if a.pause_budget else ""),
    ]))
    lines += [
        "",
        "Columns: **req/s** median (min–max over rounds); **p50/p99** latency measured by wrk, with wrk's "
        "coordinated-omission correction undone (see notes), median over rounds; "
        "**vs nginx** req/s ÷ nginx's req/s in the same setup and mode; **CPU/req** user+sys time of the "
        "server's whole process tree (threads, nginx master+workers, fork children alive or reaped) ÷ responses; "
        "**CPU vs nginx** the same ratio against nginx (lower is better); **cores srv / wrk** CPU time ÷ "
        "wall time of the server tree and of wrk (1.00 = one core busy: shows which side was the bottleneck); **wrk errors** summed over rounds "
        "(connect/read/write/timeout; status = HTTP ≥ 400); **others** the most CPU that processes other "
        "than the server and wrk used during any round, in % of the whole machine (user+system time from "
        "/proc/stat minus ours; a noise indicator — near 0% on a quiet machine).",
        "",
    ]
    for setup in a.setups:
        lines += [f"## Setup `{setup}`", "", SETUPS[setup]["text"] + ".", ""]
        lines.append("| Target | Mode | wrk | req/s | p50 | p99 | vs nginx | CPU/req | CPU vs nginx | cores srv / wrk | wrk errors | others |")
        lines.append("|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|--:|")
        for mode in ("plain", "pipelined"):
            base = summ.get((setup, "nginx", mode))
            for target in a.targets:
                m = summ.get((setup, target, mode))
                if not m:
                    continue
                if m["rps"] is None:
                    lines.append(f"| {target} | {mode} | | failed | | | | | | | | |")
                    continue
                ratio = f"{m['rps'] / base['rps']:.2f}" if base and base["rps"] else "—"
                cpu_ratio = f"{m['cpu'] / base['cpu']:.2f}" if base and base["cpu"] and m["cpu"] else "—"
                rng = f" ({fmt_rps(m['rps_min'])}–{fmt_rps(m['rps_max'])})" if m["n"] > 1 else ""
                mode_s = mode if mode == "plain" else f"pipelined ×{a.pipeline}"
                lines.append(
                    f"| {target} | {mode_s} | -t{m['threads']} -c{m['conns']} | **{fmt_rps(m['rps'])}**{rng} | "
                    f"{fmt_us(m['p50'])} | {fmt_us(m['p99'])} | {ratio} | "
                    f"{m['cpu']:.2f} µs | {cpu_ratio} | {m['server_cores']:.2f} / "
                    f"{'—' if m['wrk_cores'] is None else format(m['wrk_cores'], '.2f')} | "
                    f"{fmt_errors(m['errors'])} | {m['other']:.0f}% |")
        lines.append("")
    lines += [
        "Notes:",
        "",
        "- `iterative` serves one connection at a time, so it runs with `-c1` (64 keep-alive "
        "connections would leave 63 waiting until wrk's timeout); its numbers are one client's "
        "round trips, not a saturated server. `fork` and `threads` run with `-c64`: one process / "
        "thread per connection.",
        "- CPU/req is counted in clock ticks (10 ms) over the whole wrk run, connection setup included.",
        "- Latency: wrk 4.x rewrites its histogram before reporting (coordinated-omission correction with "
        "an expected interval of duration ÷ (responses ÷ connections)); with pipelining that interval is "
        f"{a.pipeline}× too small and wrk's own percentiles come out as 0 or p99 < p50. The Lua `done()` "
        "reads wrk's histogram through LuaJIT FFI and undoes the correction exactly, so p50/p99 here are "
        "the latencies wrk measured (per request; per batch when pipelined). wrk's corrected p50/p99 are "
        "in the raw files (`wrk_p50_us`, `wrk_p99_us`) and `results.json`.",
        f"- Raw wrk outputs: `bench/results/raw/{run.stem}/` (one file per measurement, with the "
        "exact server and wrk command lines); all numbers in `results.json` there.",
        "",
    ]
    lines += [f"- {m}" for m in run.notes]
    lines += [
        "",
        "## Anomalies",
        "",
    ]
    if run.anomalies:
        lines += [f"- {m}" for m in run.anomalies]
    else:
        lines.append("None: every sanity `GET /` returned 200 `Hello, World!`, no server crashed or "
                     "wrote to stderr, every server exited cleanly on SIGTERM "
                     "(wrk error counters are in the tables).")
    lines += ["", f"![req/s per target]({run.stem}.svg)", ""]
    md_path = os.path.join(c.RESULTS, f"{run.stem}.md")
    with open(md_path, "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(run.rawdir, "results.json"), "w") as f:
        json.dump(dict(args=vars(a), results=run.results, anomalies=run.anomalies), f, indent=1)
    svg_path = os.path.join(c.RESULTS, f"{run.stem}.svg")
    with open(svg_path, "w") as f:
        f.write(svg_chart(summ, a, run.date))
    return md_path, svg_path


def nice_max(v):
    """(axis top, tick step): step a 1/2/2.5/5 × 10^k near v/5, top the next multiple."""
    import math
    if v <= 0:
        return 1, 1
    raw = v / 5
    exp = 10 ** math.floor(math.log10(raw))
    step = next(m * exp for m in (1, 2, 2.5, 5, 10) if m * exp >= raw)
    return math.ceil(v / step) * step, step


def svg_chart(summ, a, date):
    colors = {"default": "#4e79a7", "percore": "#f28e2b"}
    W, panel_h, top_pad, left, right = 940, 300, 60, 80, 20
    H = top_pad + 2 * (panel_h + 70) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">'
           f'Hello, World! requests/s (median of {a.rounds}, {a.duration} s each) — {date}</text>']
    # legend
    lx = left
    for setup in a.setups:
        out.append(f'<rect x="{lx}" y="34" width="12" height="12" fill="{colors.get(setup, "#888")}"/>')
        out.append(f'<text x="{lx + 16}" y="45">{setup}</text>')
        lx += 110
    for pi, mode in enumerate(("plain", "pipelined")):
        y0 = top_pad + pi * (panel_h + 70) + 20
        vals = [summ[k]["rps"] for k in summ if k[2] == mode and summ[k]["rps"]]
        top, step = nice_max(1.08 * max(vals) if vals else 1)
        title = "not pipelined" if mode == "plain" else f"pipelined ({a.pipeline} requests per write)"
        out.append(f'<text x="{left}" y="{y0 - 6}" font-size="14" font-weight="bold">{title}</text>')
        plot_w = W - left - right
        # axis + grid
        k = 0
        while k * step <= top + 1e-9:
            v = k * step
            y = y0 + panel_h - panel_h * v / top
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{W - right}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt_rps(v)}</text>')
            k += 1
        out.append(f'<line x1="{left}" y1="{y0 + panel_h}" x2="{W - right}" y2="{y0 + panel_h}" stroke="#333"/>')
        gw = plot_w / len(a.targets)
        bw = min(44, (gw - 20) / max(1, len(a.setups)))
        for ti, target in enumerate(a.targets):
            gx = left + ti * gw + (gw - bw * len(a.setups)) / 2
            for si, setup in enumerate(a.setups):
                m = summ.get((setup, target, mode))
                if not m or not m["rps"]:
                    continue
                h = panel_h * m["rps"] / top
                x = gx + si * bw
                y = y0 + panel_h - h
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw - 3:.1f}" height="{h:.1f}" '
                           f'fill="{colors.get(setup, "#888")}"><title>{target} {setup} {mode}: '
                           f'{m["rps"]:.0f} req/s</title></rect>')
                out.append(f'<text x="{x + (bw - 3) / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                           f'font-size="10">{fmt_rps(m["rps"])}</text>')
            label = target + (" (-c1)" if target in CONNS_OVERRIDE else "")
            out.append(f'<text x="{left + ti * gw + gw / 2:.1f}" y="{y0 + panel_h + 16}" '
                       f'text-anchor="middle">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    a = parse_args()
    c.ensure_apt("wrk", "wrk")
    c.ensure_apt("nginx", "nginx-light")
    os.makedirs(c.RAW, exist_ok=True)
    c.raise_nofile(65536)
    quiet_note = c.wait_quiet() if a.wait_quiet else "Quiet-machine check skipped (--quick / --no-wait-quiet)."
    if not a.no_build:
        c.build("hello")
    c.machine_facts()  # commit and date as of the build, before the run
    run = Run(a)
    run.run()
    md, svg = write_report(run, quiet_note)
    c.log(f"wrote {os.path.relpath(md)} and {os.path.relpath(svg)}")
    print(open(md).read())


if __name__ == "__main__":
    main()

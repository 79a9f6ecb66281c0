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

With `--baseline REV` the same example is also built from git revision REV
(in a detached worktree /tmp/osprey-baseline-<hash>, its own target dir) and
measured as extra targets `<model>@old` in the same rounds; the tables get a
`vs old` column (new ÷ old req/s and CPU per request).

Usage: bench/hello.sh [--quick] [--duration S] [--rounds N] [--setups default,percore]
                      [--targets nginx,reactor,...,reactor@old] [--baseline REV] [--no-wait-quiet]
Env:   BENCH_DURATION (s, default 10), BENCH_ROUNDS (default 3).
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

TARGETS = ["nginx", "reactor", "epoll", "threads", "fork", "iterative"]
MODELS = TARGETS[1:]  # Osprey's; with --baseline each also as `<model>@old`
SETUPS = {
    "default": dict(c.WRK_SETUPS["default"],
                    text="servers unpinned; Osprey `--workers 2` (only `reactor` uses it: "
                         "`epoll` is one loop, `threads`/`fork` one thread/process per connection, "
                         "`iterative` one connection at a time); nginx `worker_processes 2`; "
                         "wrk `-t2 -c64` unpinned"),
    "percore": dict(c.WRK_SETUPS["percore"],
                    text="one worker each (Osprey `--workers 1`, nginx `worker_processes 1`); "
                         "the server (nginx: its master, so workers inherit) pinned to CPU 0 "
                         "with `taskset -c 0`; wrk `-t1 -c64` pinned to CPU 1"),
}
# iterative serves one connection at a time: with 64 keep-alive connections
# 63 would wait forever (wrk reports them as timeouts), so it gets one.
CONNS_OVERRIDE = {"iterative": 1}

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
    c.add_baseline_arg(ap)
    a = ap.parse_args()
    if a.pause_budget is None:
        a.pause_budget = 0 if a.quick else 900
    c.finish_run_args(ap, a, {"setups": SETUPS, "targets": TARGETS + [m + c.OLD for m in MODELS]})
    return c.finish_baseline_targets(ap, a, MODELS)


class Run(c.WrkBench):
    def __init__(self, args, baseline=None):
        super().__init__("hello", args, baseline=baseline)

    # ---------------------------------------------------------------- servers

    def start_osprey(self, model, setup, tag, binary=c.HELLO):
        argv = [binary, "--listen", "127.0.0.1:0", "--model", model,
                "--workers", str(SETUPS[setup]["workers"])]
        p, port, err = c.start_listening(argv, self.tmp, tag, pin=SETUPS[setup]["server_pin"])
        return p, port, err, argv

    def start_nginx(self, setup, tag):
        workers = SETUPS[setup]["workers"]
        reuse = " reuseport" if self.args.nginx_reuseport else ""
        p, port, err, argv, _ = c.start_nginx(
            self.tmp, tag, lambda prefix, port: c.nginx_hello_conf(prefix, port, workers, 4096, listen_opts=reuse),
            workers, pin=SETUPS[setup]["server_pin"])
        return p, port, err, argv + [f"(worker_processes {workers}{reuse})"]

    def lua(self, conns, pipelined):
        name = f"{'pipeline' if pipelined else 'plain'}-c{conns}.lua"
        path = os.path.join(self.tmp, name)
        if not os.path.exists(path):
            text = c.lua_done(conns)
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
        model, old = c.split_target(target)
        conns = CONNS_OVERRIDE.get(model, s["conns"])
        threads = min(s["wrk_threads"], conns)
        if target == "nginx":
            p, port, errfile, server_argv = self.start_nginx(setup, tag)
        else:
            p, port, errfile, server_argv = self.start_osprey(
                model, setup, tag, self.baseline["binary"] if old else c.HELLO)
        rec = dict(setup=setup, target=target, mode=mode, round=rnd, conns=conns, threads=threads)
        try:
            status, _, body = c.http_get(port)
            if status != 200 or body != b"Hello, World!":
                self.anomaly(f"{tag}: sanity GET / answered {status} {body[:40]!r}")
        except Exception as e:  # noqa: BLE001
            self.anomaly(f"{tag}: sanity GET / failed: {e}")
        argv = c.wrk_argv(threads, conns, a.duration, self.lua(conns, pipelined), f"http://127.0.0.1:{port}/",
                          pin=s["wrk_pin"])
        raw_path = os.path.join(self.rawdir, f"{tag}.txt")

        def hang_check(elapsed):
            # in wrk's stats_correct() after the run, see LUA_C1_TIMER
            if elapsed <= a.duration + 5 or conns != 1 or not pipelined:
                return False
            with open(raw_path) as f:
                text = f.read()
            return "BENCHLUA" in text and "BENCH requests" not in text

        acct = c.run_wrk(argv, p.pid, raw_path, [
            f"server: {' '.join(server_argv)}" +
            (f" (pinned to CPU {s['server_pin']})" if s["server_pin"] is not None else ""),
            f"client: {' '.join(argv)}"], a.duration, hang_check)
        if acct["timed_out"]:
            self.anomaly(f"{tag}: wrk did not finish in time; killed")
        for problem in c.server_exit_problems(tag, p, errfile, nonzero_exit_ok=target == "nginx"):
            self.anomaly(problem)
        parsed, lua = c.parse_bench_lines(acct["text"])
        if acct["hung"] and lua.get("batches"):
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
        server_s, wrk_s, wall, other_pct = acct["server_s"], acct["wrk_s"], acct["wall"], acct["other_pct"]
        server_cores = None
        if rec.get("lua_timer"):
            # The server worked for ~duration s; the timer counted the first
            # (duration - 0.3) s. wrk's CPU includes its endless loop.
            server_cores = server_s / a.duration
            server_s *= (lua["elapsed_us"] / 1e6) / a.duration
        rec.update(c.wrk_fields(parsed, server_s, wrk_s, wall, other_pct, server_cores))
        if rec.get("lua_timer"):
            rec["wrk_cores"] = None
        n = parsed["requests"]
        problem = c.latency_check(tag, parsed, n / a.pipeline if pipelined else n, conns)
        if problem:
            self.anomaly(problem)
        with open(raw_path, "a") as f:
            f.write(f"# server cpu {server_s:.2f} s, wrk cpu {wrk_s:.2f} s, other processes "
                    f"{other_pct:.1f}% of the machine, wall {wall:.1f} s\n")
        errs = sum(rec["errors"].values())
        c.log(f"  {tag:40s} {rec['rps']:>10.0f} req/s  p50 {rec['p50_us']:>7.0f} us  p99 {rec['p99_us']:>7.0f} us"
              f"  cpu {rec['cpu_us_per_req'] or 0:6.1f} us/req  errors {errs}  other {other_pct:.0f}%")
        self.results.append(rec)
        return rec

    # ------------------------------------------------------------------- run

    def run(self):
        a = self.args
        n = a.rounds * len(a.setups) * len(a.targets) * 2
        c.log(f"{n} measurements of {a.duration} s (~{n * (a.duration + 1.5) / 60:.1f} min)")
        self.started = c.utc_now()
        for rnd in range(1, a.rounds + 1):
            c.log(f"round {rnd}/{a.rounds}")
            for setup in a.setups:
                for target in c.round_order(a.targets, rnd):
                    for pipelined in (False, True):
                        self.pause_while_busy()
                        self.measure(setup, target, pipelined, rnd)
        self.finished = c.utc_now()


# ------------------------------------------------------------------ report


def write_report(run, quiet_note):
    a = run.args
    summ = c.summarize(run.results, ("setup", "target", "mode"))
    base_line = run.baseline is not None
    cmp = c.vs_old(run.results, ("setup", "target", "mode")) if base_line else {}
    lines = [f"# Hello, World! throughput: Osprey models vs nginx ({run.date})", ""]
    wrk_v, ngx_v = c.tool_versions()
    lines.append(c.facts_md((c.baseline_md(run.baseline) if base_line else []) + [
        f"- Tools: {wrk_v}; {ngx_v}; Python {sys.version.split()[0]}",
        f"- Run: {run.started.strftime('%H:%M')}–{run.finished.strftime('%H:%M')} UTC; "
        f"{a.duration} s per measurement, {a.rounds} round(s), interleaved "
        f"(each round: every setup × {', '.join(a.targets)} × plain/pipelined"
        f"{'; a model and its `@old` twin trade places in even rounds' if base_line else ''}); "
        f"a fresh server per measurement; medians over rounds",
        f"- Pipelined = wrk Lua `request()` returning {a.pipeline} requests per write "
        f"(`wrk.format` concatenated); req/s counts responses; its latency is per batch of "
        f"{a.pipeline} (wrk records latency when the last response of a batch arrives)",
        f"- {quiet_note}" + c.noise_note(run.results) +
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
    if base_line:
        lines += [c.VS_OLD_COLUMN_TEXT, ""]
        lines += c.vs_old_summary(cmp, lambda k: f"{k[0]} {k[1]} {k[2]}")
    for setup in a.setups:
        lines += [f"## Setup `{setup}`", "", SETUPS[setup]["text"] + ".", ""]
        lines.append("| Target | Mode | wrk | req/s | p50 | p99 | vs nginx | CPU/req | CPU vs nginx | "
                     + ("vs old | " if base_line else "") + "cores srv / wrk | wrk errors | others |")
        lines.append("|---|---|---|--:|--:|--:|--:|--:|--:|" + ("---|" if base_line else "") + "--:|---|--:|")
        for mode in ("plain", "pipelined"):
            base = summ.get((setup, "nginx", mode))
            for target in a.targets:
                m = summ.get((setup, target, mode))
                if not m:
                    continue
                vs_old = f" {c.fmt_vs_old(cmp, (setup, target, mode), target)} |" if base_line else ""
                if m["rps"] is None:
                    lines.append(f"| {target} | {mode} | | failed | | | | | |{vs_old} | | |")
                    continue
                ratio = f"{m['rps'] / base['rps']:.2f}" if base and base["rps"] else "—"
                cpu_ratio = f"{m['cpu'] / base['cpu']:.2f}" if base and base["cpu"] and m["cpu"] else "—"
                rng = f" ({c.fmt_rps(m['rps_min'])}–{c.fmt_rps(m['rps_max'])})" if m["n"] > 1 else ""
                mode_s = mode if mode == "plain" else f"pipelined ×{a.pipeline}"
                lines.append(
                    f"| {target} | {mode_s} | -t{m['threads']} -c{m['conns']} | **{c.fmt_rps(m['rps'])}**{rng} | "
                    f"{c.fmt_us(m['p50'])} | {c.fmt_us(m['p99'])} | {ratio} | "
                    f"{m['cpu']:.2f} µs | {cpu_ratio} |{vs_old} {m['server_cores']:.2f} / "
                    f"{'—' if m['wrk_cores'] is None else format(m['wrk_cores'], '.2f')} | "
                    f"{c.fmt_errors(m['errors'])} | {m['other']:.0f}% |")
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
    numbers = dict(args=vars(a), results=run.results, anomalies=run.anomalies)
    if base_line:
        numbers.update(baseline=run.baseline, vs_old=[dict(setup=k[0], target=k[1], mode=k[2], **v)
                                                      for k, v in cmp.items()])
    md_path = c.write_run(run, lines, numbers)
    svg_path = os.path.join(c.RESULTS, f"{run.stem}.svg")
    with open(svg_path, "w") as f:
        f.write(svg_chart(summ, a, run.date))
    return md_path, svg_path


def svg_chart(summ, a, date):
    colors = {"default": "#4e79a7", "percore": "#f28e2b"}
    panels = []
    for mode in ("plain", "pipelined"):
        title = "not pipelined" if mode == "plain" else f"pipelined ({a.pipeline} requests per write)"
        groups = []
        for target in a.targets:
            label = target + (" (-c1)" if c.split_target(target)[0] in CONNS_OVERRIDE else "")
            groups.append((label, {setup: (summ.get((setup, target, mode)) or {}).get("rps")
                                   for setup in a.setups}))
        panels.append((title, groups))
    return c.svg_bar_chart(
        f"Hello, World! requests/s (median of {a.rounds}, {a.duration} s each) — {date}",
        [(setup, colors.get(setup, "#888")) for setup in a.setups], panels)


def main():
    a = parse_args()
    c.ensure_apt("wrk", "wrk")
    c.ensure_apt("nginx", "nginx-light")
    os.makedirs(c.RAW, exist_ok=True)
    c.raise_nofile(65536)
    # The baseline's build can take minutes: before the quiet-machine wait.
    baseline = c.prepare_baseline(a.baseline, "hello", not a.no_build) if a.baseline else None
    quiet_note = c.wait_quiet() if a.wait_quiet else "Quiet-machine check skipped (--quick / --no-wait-quiet)."
    if not a.no_build:
        c.build("hello")
    c.machine_facts()  # commit and date as of the build, before the run
    run = Run(a, baseline)
    run.run()
    md, svg = write_report(run, quiet_note)
    c.log(f"wrote {os.path.relpath(md)} and {os.path.relpath(svg)}")
    print(open(md).read())


if __name__ == "__main__":
    main()

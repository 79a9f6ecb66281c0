#!/usr/bin/env python3
"""Where the CPU goes in static.sh's workloads: one wrk run per target × file
with the per-CPU split of /proc/stat (user, system, softirq, idle, steal),
optionally a system-wide `perf record -e cpu-clock -a -g` of 5 s in the
middle of the run. Uses static.py's files, servers and nginx config; prints
one line per run to stdout and writes nothing under bench/results.

On loopback the TCP receive path of a packet runs in softirq on the CPU that
sent it, and data the server queued but could not send yet is sent from
whichever context processes the client's ACKs; so per-CPU softirq time shows
on whose core the transfer work ends up (and who then limits the run).

Usage: python3 bench/static-profile.py [--setup percore] [--files f1m.bin,...]
           [--targets nginx,osprey] [--duration 8] [--perf DIR]
           [--nginx-variant nopush-off|sendfile-off]
`--nginx-variant nopush-off` runs nginx with `tcp_nopush off` (no TCP_CORK
around the head and the sendfile body, as Osprey does); `sendfile-off` also
turns sendfile off (nginx then reads and writes the file).
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402
import static as st  # noqa: E402


def per_cpu():
    """/proc/stat per-CPU counters: user nice system idle iowait irq softirq steal."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                p = line.split()
                out[p[0]] = [int(x) for x in p[1:9]]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup", default="percore", choices=list(st.SETUPS))
    ap.add_argument("--files", default=",".join(f for f, _, _ in st.FILES))
    ap.add_argument("--targets", default="nginx,osprey")
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--perf", metavar="DIR", help="also record a perf profile per run into DIR")
    ap.add_argument("--nginx-variant", choices=["nopush-off", "sendfile-off"])
    a = ap.parse_args()
    if a.nginx_variant:
        best = st.nginx_static_conf

        def variant(*args, **kw):
            conf = best(*args, **kw).replace("tcp_nopush on;", "tcp_nopush off;")
            if a.nginx_variant == "sendfile-off":
                conf = conf.replace("sendfile on;", "sendfile off;")
            return conf
        st.nginx_static_conf = variant
    run = st.Run(argparse.Namespace(quick=True, syscalls=False, nginx_reuseport=False, pause_budget=0,
                                    duration=a.duration))
    s = st.SETUPS[a.setup]
    with open(run.lua_path, "w") as f:
        f.write(c.lua_done(s["conns"]))
    for name in a.files.split(","):
        for target in a.targets.split(","):
            tag = f"profile-{a.setup}-{name}-{target}"
            p, port, err, _ = run.start(a.setup, target, tag)
            run.sanity(tag, port, name)
            argv = c.wrk_argv(s["wrk_threads"], s["conns"], a.duration, run.lua_path,
                              f"http://127.0.0.1:{port}/{name}", pin=s["wrk_pin"])
            wrk_out = os.path.join(run.tmp, f"{tag}.wrk")
            before = per_cpu()
            w = c.spawn(argv, stdout=open(wrk_out, "w"), stderr=subprocess.STDOUT)
            if a.perf:
                os.makedirs(a.perf, exist_ok=True)
                time.sleep(1)
                subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-a", "-g",
                                "-o", os.path.join(a.perf, f"{tag}.perf.data"), "--", "sleep", "5"],
                               capture_output=True, timeout=30)
            try:
                w.wait(timeout=a.duration + 30)
            except subprocess.TimeoutExpired:
                run.anomaly(f"{tag}: wrk did not finish")
            c.stop(w, grace=0.2)
            after = per_cpu()
            for problem in c.server_exit_problems(tag, p, err, nonzero_exit_ok=target != "osprey"):
                run.anomaly(problem)
            parsed, _ = c.parse_bench_lines(open(wrk_out).read())
            rps = parsed["requests"] / (parsed["duration_us"] / 1e6) if parsed.get("duration_us") else 0
            cols = [f"{name:9s} {target:13s} {rps:9.0f} req/s"]
            for cpu in sorted(after):
                d = [y - x for x, y in zip(before[cpu], after[cpu])]
                tot = sum(d) or 1
                user, nice, system, idle, iowait, irq, softirq, steal = d
                cols.append(f"{cpu}: usr {100 * (user + nice) / tot:4.1f}% sys {100 * system / tot:4.1f}% "
                            f"softirq {100 * (softirq + irq) / tot:4.1f}% idle {100 * (idle + iowait) / tot:4.1f}%"
                            f" steal {100 * steal / tot:3.1f}%")
            print(" | ".join(cols), flush=True)
    try:
        os.rmdir(run.rawdir)  # Run made it; nothing is written there
    except OSError:
        pass


if __name__ == "__main__":
    main()

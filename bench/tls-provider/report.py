#!/usr/bin/env python3
"""Turns the raw data that run.sh collects into RESULTS.md (markdown on stdout).

Reads the interleaved rounds (rounds.tsv, one line per provider x scenario x
round, as printed by the bench binary with the round number in front), the
clean-build times (builds.tsv), the machine facts (meta.tsv) and Cargo.lock for
the crate versions. Each table row gives the median over the rounds with the
min-max spread, per provider, and the aws-lc-rs / ring ratio of the medians.
`--slowest-units FILE` is a helper for run.sh: it prints the three slowest
units of a `cargo build --timings` HTML report.
"""

import argparse
import csv
import json
import re
import statistics
import sys

PROVIDERS = ["ring", "aws-lc-rs"]

ROWS = [
    # scenario, label
    ("full-tls13-x25519-ecdsa-p256", "Full handshake, TLS 1.3, X25519, ECDSA P-256 cert"),
    ("full-tls13-x25519-ecdsa-p256-sha256", "  same, client offers only TLS13_AES_128_GCM_SHA256"),
    ("full-tls13-x25519-rsa2048", "Full handshake, TLS 1.3, X25519, RSA-2048 cert"),
    ("full-tls12-ecdhe-ecdsa-aes128gcm", "Full handshake, TLS 1.2 ECDHE-ECDSA-AES128-GCM (X25519, P-256)"),
    ("resumed-tls13-ticket", "Resumed, TLS 1.3 ticket (provider Ticketer, PSK+X25519)"),
    ("resumed-tls13-ticket-sha256", "  same, client offers only TLS13_AES_128_GCM_SHA256"),
    ("resumed-tls12-session-cache", "Resumed, TLS 1.2 session ID (ServerSessionMemoryCache)"),
    ("bulk-tls13-aes128gcm", "Bulk encrypt, TLS13_AES_128_GCM_SHA256"),
    ("bulk-tls13-aes256gcm", "Bulk encrypt, TLS13_AES_256_GCM_SHA384"),
    ("bulk-tls13-chacha20poly1305", "Bulk encrypt, TLS13_CHACHA20_POLY1305_SHA256"),
    ("full-tls13-x25519mlkem768-ecdsa-p256", "Full handshake, TLS 1.3, X25519MLKEM768, ECDSA P-256 (extra)"),
]


def slowest_units(path):
    html = open(path, encoding="utf-8").read()
    start = html.index("const UNIT_DATA = ") + len("const UNIT_DATA = ")
    units, _ = json.JSONDecoder().raw_decode(html[start:])
    units.sort(key=lambda u: -u["duration"])
    out = []
    for u in units[:3]:
        kind = " (build script run)" if u.get("mode") == "run-custom-build" else ""
        out.append(f"{u['name']}{kind} {u['duration']:.0f}s")
    return ", ".join(out)


def read_tsv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def fmt(x):
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(vals):
    if not vals:
        return "n/a"
    return f"{fmt(statistics.median(vals))} [{fmt(min(vals))}–{fmt(max(vals))}]"


def ratio(a, b):
    if not a or not b:
        return "n/a"
    return f"{statistics.median(b) / statistics.median(a):.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slowest-units")
    ap.add_argument("--rounds")
    ap.add_argument("--builds")
    ap.add_argument("--meta", nargs="+", default=[])
    ap.add_argument("--lock")
    a = ap.parse_args()
    if a.slowest_units:
        print(slowest_units(a.slowest_units))
        return

    rounds = read_tsv(a.rounds)
    builds = read_tsv(a.builds)
    meta = {}
    for path in a.meta:
        meta.update(line.rstrip("\n").split("\t", 1) for line in open(path, encoding="utf-8") if "\t" in line)
    lock = open(a.lock, encoding="utf-8").read()
    versions = dict(re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', lock))

    # metric name -> (scenario, provider) -> [values over rounds]
    def collect(fn):
        d = {}
        for r in rounds:
            d.setdefault((r["scenario"], r["provider"]), []).append(fn(r))
        return d

    def units(r):
        n = float(r["units"])
        return n / 1e6 if r["unit"] == "bytes" else n

    server = collect(lambda r: units(r) / float(r["server_cpu_s"]))
    total = collect(lambda r: units(r) / float(r["total_cpu_s"]))
    client = collect(lambda r: units(r) / (float(r["total_cpu_s"]) - float(r["server_cpu_s"])))
    server_wall = collect(lambda r: units(r) / float(r["server_wall_s"]))
    per_hs_us = collect(lambda r: 1e6 * float(r["server_cpu_s"]) / float(r["units"]))
    correction = collect(
        lambda r: 100 * (float(r["server_cpu_raw_s"]) - float(r["server_cpu_s"])) / float(r["server_cpu_raw_s"])
    )
    round_wall = collect(lambda r: float(r["total_wall_s"]))
    # Per-round aws-lc-rs / ring ratio: the two runs of a scenario in one round are
    # back to back, so this cancels slow drifts in the machine's load.
    paired = {}
    by_round = {(r["round"], r["scenario"], r["provider"]): r for r in rounds}
    for (rnd, s, p), r in by_round.items():
        other = by_round.get((rnd, s, "ring"))
        if p == "aws-lc-rs" and other:
            paired.setdefault(s, []).append(float(other["server_cpu_s"]) / float(r["server_cpu_s"]))
    negotiated = {(r["scenario"], r["provider"]): r["negotiated"] for r in rounds}
    nrounds = {p: len({r["round"] for r in rounds if r["provider"] == p}) for p in PROVIDERS}

    def unit_of(s):
        return "MB/s" if s.startswith("bulk") else "handshakes/s"

    o = []
    w = o.append
    w("# rustls crypto provider: ring vs aws-lc-rs on this machine")
    w("")
    w(f"Measured by `bench/tls-provider/run.sh`: rounds {meta.get('rounds_date', '?')} "
      f"({meta.get('rounds')} interleaved rounds per provider, scale {meta.get('scale')}), "
      f"clean builds {meta.get('builds_date', 'not run')}; raw data in `results/`.")
    w("")
    w("## Server side (CPU time spent inside the server connection's calls)")
    w("")
    w("Median over the rounds [min–max]. Rates per second of server CPU time; MB = 10^6 bytes. "
      "Ratio = aws-lc-rs median / ring median: above 1 means aws-lc-rs is faster. "
      "Paired = the same ratio taken within each round (the two providers ran back to back), "
      "median [min–max] over the rounds.")
    w("")
    w("| Measurement | unit | ring | aws-lc-rs | aws-lc/ring | paired aws-lc/ring |")
    w("|---|---|---|---|---|---|")
    for s, label in ROWS:
        pr = paired.get(s)
        pcell = f"{statistics.median(pr):.2f} [{min(pr):.2f}–{max(pr):.2f}]" if pr else "n/a"
        w(f"| {label} | {unit_of(s)} | {cell(server.get((s, 'ring')))} | "
          f"{cell(server.get((s, 'aws-lc-rs')))} | {ratio(server.get((s, 'ring')), server.get((s, 'aws-lc-rs')))} | {pcell} |")
    w("")
    w("## Clean builds of this crate (`-j2`, empty target dir, after `cargo fetch`)")
    w("")
    if builds:
        w("Median [min–max] over the repeats, in seconds. Wall = elapsed time (what CI waits for); "
          "CPU = user + system time of cargo and every compiler it ran (much less sensitive to other load "
          "on this shared machine; on 2 idle cores the wall time would lie between CPU/2 and CPU). "
          "Ratio = aws-lc-rs / ring: above 1 means aws-lc-rs builds slower.")
        w("")
        w("| Build | time | ring | aws-lc-rs | aws-lc/ring | slowest units (last run: wall seconds) |")
        w("|---|---|---|---|---|---|")
        for profile in ["release", "debug"]:
            for col, what in [("seconds", "wall"), ("cpu_seconds", "CPU")]:
                v = {p: [float(b[col]) for b in builds if b["provider"] == p and b["profile"] == profile]
                     for p in PROVIDERS}
                slow = ""
                if col == "seconds":
                    last = {p: [b["slowest_units"] for b in builds if b["provider"] == p and b["profile"] == profile]
                            for p in PROVIDERS}
                    slow = "; ".join(f"{p}: {last[p][-1]}" for p in PROVIDERS if last[p])
                w(f"| `cargo build{' --release' if profile == 'release' else ''}` | {what} | {cell(v['ring'])} | "
                  f"{cell(v['aws-lc-rs'])} | {ratio(v['ring'], v['aws-lc-rs'])} | {slow} |")
        builders = sorted({b["aws_lc_sys_builder"] for b in builds if b["provider"] == "aws-lc-rs"})
        w("")
        w(f"aws-lc-sys built its C code with: {', '.join(builders)} "
          f"(cmake: {meta.get('have_cmake')}; nasm: {meta.get('have_nasm')}; clang: {meta.get('have_clang')}; "
          f"C compiler: {meta.get('cc')}). "
          "The release profile is Osprey's (`codegen-units = 1`, `lto = \"thin\"`, `debug = 1`).")
        w(f"Whole machine busy during the builds: {meta.get('busy_builds_pct', '?')} % of both cores "
          "(a -j2 build alone keeps them busy most of the time); loadavg "
          f"{meta.get('builds_loadavg_start', '?')} at the start, {meta.get('builds_loadavg_end', '?')} at the end; "
          f"before starting: {meta.get('builds_quiet', 'did not wait')}.")
    else:
        w("Not measured in this run (`--no-builds` / `--quick`).")
    w("")
    w("## Details")
    w("")
    w("Total = the round's whole thread CPU time (client + server; the client also verifies the "
      "certificate chain in full handshakes). Client = total − server: for the bulk rows this is the "
      "client's decryption (plus rustls's copies), i.e. what the server's receive path (uploads) would cost. "
      "Server µs = server CPU per handshake. Timer % = share of the raw server time removed as the timer's own "
      "cost (`CLOCK_THREAD_CPUTIME_ID` is a syscall here, measured on empty sections before each round). "
      "Server wall = the same server sections timed with wall clock, uncorrected (preemption included).")
    w("")
    w("| Measurement | total ring | total aws-lc-rs | ratio | client ring | client aws-lc-rs | ratio | "
      "server µs/hs ring | server µs/hs aws-lc-rs | timer % ring / aws | server wall ring | server wall aws-lc-rs | round wall s |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s, label in ROWS:
        def g(d, p):
            return d.get((s, p))
        us = (f"{fmt(statistics.median(g(per_hs_us, 'ring')))}" if g(per_hs_us, "ring") and not s.startswith("bulk") else "–",
              f"{fmt(statistics.median(g(per_hs_us, 'aws-lc-rs')))}" if g(per_hs_us, "aws-lc-rs") and not s.startswith("bulk") else "–")
        corr = "/".join(f"{statistics.median(g(correction, p)):.1f}" if g(correction, p) else "–" for p in PROVIDERS)
        walls = [x for p in PROVIDERS for x in (g(round_wall, p) or [])]
        w(f"| {label} ({unit_of(s)}) | {cell(g(total, 'ring'))} | {cell(g(total, 'aws-lc-rs'))} | "
          f"{ratio(g(total, 'ring'), g(total, 'aws-lc-rs'))} | {cell(g(client, 'ring'))} | {cell(g(client, 'aws-lc-rs'))} | "
          f"{ratio(g(client, 'ring'), g(client, 'aws-lc-rs'))} | {us[0]} | {us[1]} | {corr} | "
          f"{cell(g(server_wall, 'ring'))} | {cell(g(server_wall, 'aws-lc-rs'))} | "
          f"{min(walls):.1f}–{max(walls):.1f} |")
    w("")
    w("Negotiated (first timed connection of each scenario):")
    w("")
    for s, _ in ROWS:
        got = sorted({negotiated[(s, p)] for p in PROVIDERS if (s, p) in negotiated})
        w(f"- `{s}`: {', '.join(got) if got else 'n/a'}")
    w("")
    w("## Machine and versions")
    w("")
    w(f"- Date: {meta.get('rounds_date', '?')} (rounds), {meta.get('builds_date', 'not run')} (builds)")
    w(f"- CPUs: {meta.get('nproc')} (`nproc`), {meta.get('cpu')} ({meta.get('cpu_family_model')}; "
      f"flags: {meta.get('cpu_flags', '').strip()}), {meta.get('mem')} RAM, kernel {meta.get('kernel')}")
    w(f"- Toolchain: {meta.get('rustc')}; {meta.get('cargo')}; {meta.get('cc')}")
    crates = ["rustls", "ring", "aws-lc-rs", "aws-lc-sys", "rustls-webpki", "rcgen", "rustls-pki-types"]
    w("- Crates (Cargo.lock): " + ", ".join(f"{c} {versions[c]}" for c in crates if c in versions))
    w(f"- Load: loadavg {meta.get('rounds_loadavg_start', '?')} when the rounds started, "
      f"{meta.get('rounds_loadavg_end', '?')} when they ended; the whole "
      f"machine was {meta.get('busy_rounds_pct', '?')} % busy during the rounds (this benchmark alone is ~50 %: "
      f"one thread on two cores); before starting: {meta.get('rounds_quiet', 'did not wait')}. "
      "The machine is shared with other builds, hence CPU time rather than wall time, the interleaving and medians.")
    w(f"- Rounds per provider: " + ", ".join(f"{p} {nrounds[p]}" for p in PROVIDERS))
    w("")
    print("\n".join(o))


if __name__ == "__main__":
    sys.exit(main())

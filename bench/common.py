"""Shared helpers for the Osprey benchmark scripts in bench/.

Everything here is standard library only: process management with cleanup,
free ports, /proc accounting (CPU time of a process tree, RSS), a "is the
machine quiet?" check, machine/version facts for result headers, and tool
installation (wrk, nginx-light) through apt-get when missing. For the wrk
benchmarks (hello.py, static.py, tls.py): nginx config and startup, a wrk run
(or several client processes at once) with CPU accounting of server, client
and everything else, the Lua done() that undoes
wrk's latency correction, the per-measurement sanity/shutdown checks, the
median summary, formatting, and a grouped-bar SVG chart.
"""

import atexit
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
RESULTS = os.path.join(BENCH_DIR, "results")
RAW = os.path.join(RESULTS, "raw")
HELLO = os.path.join(REPO, "target", "release", "examples", "hello")
TEST_SERVER = os.path.join(REPO, "target", "release", "osprey-test-server")
OSPREY = os.path.join(REPO, "target", "release", "osprey")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MODELS_FAST_FIRST = ["reactor", "epoll", "threads", "fork", "iterative"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def utc_date():
    return utc_now().strftime("%Y-%m-%d")


# --------------------------------------------------------------------------
# Process management: every process we start gets its own process group and
# is killed (group-wide) at exit, on SIGINT/SIGTERM/SIGHUP, or on an exception.
# If BENCH_PGID_FILE is set (the .sh wrappers set it), live group ids are also
# written there so the wrapper's `trap EXIT` can kill them even if Python
# itself is killed with SIGKILL.
# --------------------------------------------------------------------------

_groups = {}  # pgid -> description


def _write_pgid_file():
    path = os.environ.get("BENCH_PGID_FILE")
    if not path:
        return
    try:
        with open(path + ".tmp", "w") as f:
            for pgid in _groups:
                f.write(f"{pgid}\n")
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def spawn(argv, stdout=None, stderr=None, pin=None, env=None):
    """Starts argv in a new session (own process group), optionally pinned
    with `taskset -c PIN` (taskset execs, so the pid is the program's)."""
    if pin is not None:
        argv = ["taskset", "-c", str(pin)] + list(argv)
    p = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=stdout if stdout is not None else subprocess.DEVNULL,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    _groups[p.pid] = " ".join(argv)
    _write_pgid_file()
    return p


def kill_group(pgid, sig=signal.SIGKILL):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop(p, grace=5.0):
    """SIGTERM to the leader, wait up to `grace` s, then SIGKILL the whole
    group. Returns (exit code or None if it had to be killed, leftovers)
    where leftovers is the number of group members still alive after the
    leader exited (e.g. fork children or nginx workers left behind)."""
    code = p.poll()
    if code is None:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            code = p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            code = None
    time.sleep(0.05)
    leftovers = len(group_members(p.pid))
    kill_group(p.pid)
    if code is None:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    _groups.pop(p.pid, None)
    _write_pgid_file()
    return code, leftovers


_tmpdirs = []


def cleanup_all():
    for pgid in list(_groups):
        kill_group(pgid, signal.SIGTERM)
    if _groups:
        time.sleep(0.2)
    for pgid in list(_groups):
        kill_group(pgid, signal.SIGKILL)
    _groups.clear()
    _write_pgid_file()
    while _tmpdirs:
        shutil.rmtree(_tmpdirs.pop(), ignore_errors=True)


def _on_signal(signum, _frame):
    cleanup_all()
    sys.exit(128 + signum)


atexit.register(cleanup_all)
for _s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def group_members(pgid):
    out = []
    for pid in _all_pids():
        st = read_stat(pid)
        if st and st["pgrp"] == pgid:
            out.append(pid)
    return out


# --------------------------------------------------------------------------
# /proc accounting
# --------------------------------------------------------------------------


def _all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def read_stat(pid):
    """Fields of /proc/PID/stat we use, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("latin-1")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    lp, rp = data.index("("), data.rindex(")")
    rest = data[rp + 2 :].split()
    # rest[0] is field 3 (state); field n is rest[n - 3].
    return {
        "pid": pid,
        "comm": data[lp + 1 : rp],
        "state": rest[0],
        "ppid": int(rest[1]),
        "pgrp": int(rest[2]),
        "utime": int(rest[11]),
        "stime": int(rest[12]),
        "cutime": int(rest[13]),
        "cstime": int(rest[14]),
        "starttime": int(rest[19]),
        "rss_pages": int(rest[21]),
    }


def descendants(root):
    """root and all its descendants (by ppid), as a list of pids."""
    children = {}
    for pid in _all_pids():
        st = read_stat(pid)
        if st:
            children.setdefault(st["ppid"], []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_ticks(root):
    """user+sys clock ticks of root and every live descendant, plus the
    cutime/cstime of each (children already exited and reaped, e.g. fork
    model children). Threads are included in their process's counters."""
    total = 0
    for pid in descendants(root):
        st = read_stat(pid)
        if st:
            total += st["utime"] + st["stime"] + st["cutime"] + st["cstime"]
    return total


def tree_schedstat_ns(root):
    """General (first used by tls.py): (ns on a CPU, ns runnable but waiting
    for a CPU) summed over every thread of root and its live descendants,
    from /proc/PID/task/TID/schedstat. Over a run, run + wait close to the
    wall time means the tree always had work: it was the bottleneck, or
    other processes kept it off its CPU; much less means it waited for its
    peer."""
    run = wait = 0
    for pid in descendants(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    a, b, _ = f.read().split()
            except (OSError, ValueError):
                continue
            run += int(a)
            wait += int(b)
    return run, wait


def vm_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def tree_rss_kib(root):
    return sum(vm_rss_kib(p) or 0 for p in descendants(root))


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return None


def system_busy_ticks():
    """user+nice+system ticks over all CPUs from /proc/stat. irq/softirq ticks
    (on loopback, mostly our own TCP traffic, charged to no process) and steal
    are left out, so that busy - (ours) approximates other processes' CPU."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(x) for x in parts]
    # user nice system idle iowait irq softirq steal guest guest_nice
    return vals[0] + vals[1] + vals[2]


# --------------------------------------------------------------------------
# Quiet machine check
# --------------------------------------------------------------------------


def _own_pids():
    """This process, its descendants and its ancestors (the shell that ran us)."""
    own = set(descendants(os.getpid()))
    pid = os.getpid()
    while pid > 1:
        own.add(pid)
        st = read_stat(pid)
        if not st:
            break
        pid = st["ppid"]
    return own


def busy_processes(window=5.0, threshold=10.0):
    """Processes (not ours) that used more than `threshold` % of one CPU over
    `window` seconds, as [(pct, pid, cmdline)], busiest first."""
    def snap():
        s = {}
        for pid in _all_pids():
            st = read_stat(pid)
            if st:
                s[pid] = (st["starttime"], st["utime"] + st["stime"])
        return s

    a = snap()
    time.sleep(window)
    b = snap()
    own = _own_pids()
    out = []
    for pid, (start, ticks) in b.items():
        if pid in own:
            continue
        prev = a.get(pid)
        base = prev[1] if prev and prev[0] == start else 0
        pct = 100.0 * (ticks - base) / CLK_TCK / window
        if pct > threshold:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("latin-1").strip()
            except OSError:
                cmd = "?"
            out.append((pct, pid, cmd[:120] or "?"))
    out.sort(reverse=True)
    return out


def wait_quiet(max_wait=25 * 60, poll=30, threshold=10.0):
    """Polls until no foreign process uses more than `threshold` % CPU.
    Returns a one-paragraph markdown note for the results header."""
    t0 = time.time()
    while True:
        busy = busy_processes(threshold=threshold)
        waited = time.time() - t0
        if not busy:
            log(f"machine quiet (waited {waited:.0f} s)")
            return f"Machine quiet at start (no other process above {threshold:.0f}% CPU; waited {waited:.0f} s)."
        desc = "; ".join(f"{pct:.0f}% pid {pid} `{cmd[:60]}`" for pct, pid, cmd in busy[:4])
        if waited >= max_wait:
            log(f"machine never became quiet in {max_wait} s: {desc}")
            return (f"**Machine NOT quiet**: waited {waited:.0f} s and other processes still used CPU "
                    f"at start: {desc}. Treat absolute numbers with care.")
        log(f"machine busy ({desc}); polling again in {poll} s ({waited:.0f}/{max_wait} s waited)")
        time.sleep(max(0, poll - 5))


def quiet_check_once(threshold=10.0):
    """General (any driver run with --no-wait-quiet; first used by tls.py):
    one 5 s look at the machine without waiting, so the results header still
    says whether the run was on a quiet machine. Returns a markdown note."""
    busy = busy_processes(threshold=threshold)
    if not busy:
        log("machine quiet at start")
        return (f"Quiet-machine wait skipped (--no-wait-quiet); a 5 s check at start found no other "
                f"process above {threshold:.0f}% CPU.")
    desc = "; ".join(f"{pct:.0f}% pid {pid} `{cmd[:60]}`" for pct, pid, cmd in busy[:4])
    log(f"machine busy at start: {desc}")
    return (f"**Machine NOT quiet**: quiet-machine wait skipped (--no-wait-quiet), and a 5 s check at "
            f"start found other processes above {threshold:.0f}% CPU: {desc}. Treat absolute numbers "
            f"with care.")


# --------------------------------------------------------------------------
# Ports, waiting for servers
# --------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening_line(path, p, timeout=10.0):
    """Waits for `listening on http://127.0.0.1:PORT` (or `https://`, what
    Osprey prints for a TLS listener) in the file `path` that the server's
    stdout goes to. Returns the port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(("listening on http://", "listening on https://")):
                        return int(line.strip().rsplit(":", 1)[1])
        except FileNotFoundError:
            pass
        if p.poll() is not None:
            raise RuntimeError(f"server exited with {p.returncode} before listening")
        time.sleep(0.02)
    raise RuntimeError("server did not print its address in time")


def wait_port(port, p=None, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p is not None and p.poll() is not None:
            raise RuntimeError(f"server exited with {p.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def http_get(port, path="/", close=True, timeout=5.0, src=None):
    """One GET on a fresh connection; returns (status, headers dict, body)."""
    s = socket.socket()
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    try:
        conn = "Connection: close\r\n" if close else ""
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{conn}\r\n".encode())
        return read_response(s)
    finally:
        s.close()


def read_response(s, buf=b""):
    """Reads one Content-Length response from blocking socket s."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("EOF before response head")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("EOF inside body")
        rest += d
    return status, headers, rest[:n]


# --------------------------------------------------------------------------
# Tools, builds, machine facts
# --------------------------------------------------------------------------


def ensure_apt(binary, package):
    if shutil.which(binary):
        return
    log(f"{binary} missing: apt-get install -y {package}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", package], env=env)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(["apt-get", "install", "-y", package], env=env, check=True)
    if not shutil.which(binary) and not os.path.exists(f"/usr/sbin/{binary}"):
        raise SystemExit(f"{binary} still missing after installing {package}")


def nginx_bin():
    return shutil.which("nginx") or "/usr/sbin/nginx"


# What build(what) runs, and where its binary lands under a target dir.
BUILDS = {
    "hello": (["cargo", "build", "--release", "--example", "hello"], ("release", "examples", "hello")),
    "osprey": (["cargo", "build", "--release", "-p", "osprey"], ("release", "osprey")),
    "testkit": (["cargo", "build", "--release", "-p", "osprey-testkit"], ("release", "osprey-test-server")),
}


def build(what, cwd=REPO, env=None):
    """what: 'hello', 'osprey' (the binary) or 'testkit'. cargo is a no-op
    when up to date. `cwd`/`env`: another checkout and its environment
    (prepare_baseline)."""
    argv = BUILDS[what][0]
    log("$ " + " ".join(argv) + ("" if cwd == REPO else f"    (in {cwd})"))
    subprocess.run(argv, cwd=cwd, check=True, env=env)


def _cmd_out(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=REPO)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


_facts = None


def machine_facts():
    """Machine, commit and toolchain; computed once (call it when a run
    starts, so a commit made while the benchmark runs is not reported)."""
    global _facts
    if _facts is None:
        _facts = _machine_facts()
    return _facts


def _machine_facts():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    commit = _cmd_out(["git", "rev-parse", "--short", "HEAD"])
    subject = _cmd_out(["git", "log", "-1", "--format=%s", "HEAD"])
    dirty = _cmd_out(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "mem": mem,
        "kernel": os.uname().release,
        "osprey": commit + (" (+ uncommitted changes)" if dirty and dirty != "?" else ""),
        "subject": subject,
        "rustc": _cmd_out(["rustc", "--version"]),
        "python": sys.version.split()[0],
        "started": utc_now().strftime("%Y-%m-%d %H:%M UTC"),
    }


def facts_md(extra=()):
    f = machine_facts()
    lines = [
        f"- Machine: {f['nproc']} CPUs ({f['cpu']}), {f['mem']} RAM, Linux {f['kernel']}",
        f"- Osprey: commit {f['osprey']}; {f['rustc']}; release build",
        f"- Date: {f['started']}",
    ]
    lines += list(extra)
    return "\n".join(lines)


def raise_nofile(n):
    """Raises RLIMIT_NOFILE (soft and hard) to n; root may go up to
    /proc/sys/fs/nr_open. Returns the limit in effect."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with open("/proc/sys/fs/nr_open") as f:
            n = min(n, int(f.read()))
    except OSError:
        pass
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, max(n, hard)))
    except (ValueError, PermissionError):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, PermissionError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def nginx_conf(prefix, port, workers, worker_connections, server_body, http_extra="",
               extra_main="", listen_opts=""):
    """An nginx.conf that keeps everything under `prefix` (pid, temp paths),
    logs no errors below crit and no requests, and allows unlimited
    keep-alive requests; `http_extra` goes into `http {}`, `server_body`
    into the one `server {}` listening on 127.0.0.1:`port`."""
    return f"""
worker_processes {workers};
{extra_main}
pid {prefix}/nginx.pid;
error_log /dev/null crit;
events {{
    worker_connections {worker_connections};
}}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{http_extra}
    server {{
        listen 127.0.0.1:{port}{listen_opts};
{server_body}
    }}
}}
"""


def nginx_hello_conf(prefix, port, workers, worker_connections, extra_main="", listen_opts=""):
    """nginx.conf for the fair "Hello, World!" comparison: no access log,
    unlimited keep-alive requests, temp paths under `prefix`, and
    `return 200 "Hello, World!"` as text/plain."""
    body = """        location / {
            default_type text/plain;
            return 200 "Hello, World!";
        }"""
    return nginx_conf(prefix, port, workers, worker_connections, body,
                      extra_main=extra_main, listen_opts=listen_opts)


def write_markdown(stem, lines):
    """Writes `lines` to bench/results/<stem>.md and echoes them."""
    path = os.path.join(RESULTS, f"{stem}.md")
    os.makedirs(RESULTS, exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    log(f"wrote {os.path.relpath(path)}")
    print("\n".join(lines))
    return path



# --------------------------------------------------------------------------
# wrk benchmarks: servers, one measured wrk run, checks
# --------------------------------------------------------------------------

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


# The two setups of the wrk benchmarks: `default` leaves scheduling to the
# kernel with 2 server workers and 2 wrk threads; `percore` gives the server
# (1 worker) CPU 0 and wrk (1 thread) CPU 1, so each side has one core.
WRK_SETUPS = {
    "default": dict(server_pin=None, workers=2, wrk_threads=2, wrk_pin=None, conns=64),
    "percore": dict(server_pin=0, workers=1, wrk_threads=1, wrk_pin=1, conns=64),
}


def lua_done(conns):
    """The done() script for a wrk run with `conns` connections."""
    return LUA_DONE % {"conns": conns}


def start_listening(argv, tmp, tag, pin=None):
    """Starts a server that prints `listening on http(s)://ADDR` (stdout to
    tmp/TAG.out, stderr to tmp/TAG.err). Returns (process, port, stderr path)."""
    out = os.path.join(tmp, f"{tag}.out")
    err = os.path.join(tmp, f"{tag}.err")
    p = spawn(argv, stdout=open(out, "w"), stderr=open(err, "w"), pin=pin)
    port = wait_listening_line(out, p)
    return p, port, err


def start_nginx(tmp, tag, conf_for, workers, pin=None):
    """Starts nginx in the foreground with its own prefix tmp/nginx-TAG/ and
    the config `conf_for(prefix, port)` on a port probed free just before;
    waits until it accepts connections and all `workers` workers exist (so
    CPU accounting covers them). Returns (process, port, output path, argv,
    config path)."""
    prefix = os.path.join(tmp, f"nginx-{tag}")
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    port = free_port()
    conf_path = os.path.join(prefix, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf_for(prefix, port))
    err = os.path.join(tmp, f"{tag}.err")
    argv = [nginx_bin(), "-p", prefix + "/", "-c", conf_path, "-e", "/dev/null", "-g", "daemon off;"]
    p = spawn(argv, stdout=open(err, "w"), stderr=subprocess.STDOUT, pin=pin)
    wait_port(port, p)
    deadline = time.time() + 5
    while len(descendants(p.pid)) < workers + 1 and time.time() < deadline:
        time.sleep(0.02)
    return p, port, err, argv, conf_path


def wrk_argv(threads, conns, duration, script, url, pin=None, timeout="2s"):
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", timeout,
            "-s", script, url]
    if pin is not None:
        argv = ["taskset", "-c", str(pin)] + argv
    return argv


def run_wrk(argv, server_pid, raw_path, header_lines, duration, hang_check=None):
    """Runs wrk (`argv`, taskset included) with its output to `raw_path`
    after `header_lines` (each written as `# LINE`), and accounts CPU over
    the run: the server's whole process tree (from /proc), wrk (rusage of
    reaped children) and every other process (/proc/stat busy time minus
    both). Gives wrk `duration` + 30 s; `hang_check(elapsed_s)` is polled
    every 0.2 s and may return True to stop waiting (wrk is then killed).
    Returns a dict: text, wall, server_s, wrk_s, other_pct, hung, timed_out,
    and (added for tls.py, ignored by the others) server_run_s /
    server_wait_s: the server tree's time on a CPU and runnable but waiting
    for one (tree_schedstat_ns)."""
    import resource

    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = tree_cpu_ticks(server_pid)
    sched0 = tree_schedstat_ns(server_pid)
    busy0 = system_busy_ticks()
    t0 = time.time()
    hung = timed_out = False
    with open(raw_path, "w") as out:
        for line in header_lines:
            out.write(f"# {line}\n")
        out.flush()
        w = spawn(argv, stdout=out, stderr=subprocess.STDOUT)
        while w.poll() is None:
            el = time.time() - t0
            if el > duration + 30:
                timed_out = True
                break
            if hang_check is not None and hang_check(el):
                hung = True
                break
            time.sleep(0.2)
        stop(w, grace=0.2)
    wall = time.time() - t0
    cpu1 = tree_cpu_ticks(server_pid)
    sched1 = tree_schedstat_ns(server_pid)
    busy1 = system_busy_ticks()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_s = (cpu1 - cpu0) / CLK_TCK
    wrk_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    busy_s = (busy1 - busy0) / CLK_TCK
    other_pct = max(0.0, 100.0 * (busy_s - server_s - wrk_s) / wall / os.cpu_count())
    with open(raw_path) as f:
        text = f.read()
    return dict(text=text, wall=wall, server_s=server_s, wrk_s=wrk_s, other_pct=other_pct,
                hung=hung, timed_out=timed_out,
                server_run_s=(sched1[0] - sched0[0]) / 1e9, server_wait_s=(sched1[1] - sched0[1]) / 1e9)


def run_clients(argvs, server_pid, raw_paths, header_lines, duration):
    """General (several client processes at once; first used by tls.py for
    parallel `openssl s_time`): like run_wrk, but starts every argv in
    `argvs` (taskset included) together, each with its output to the
    matching file of `raw_paths` after `header_lines`, and waits for all
    (each gets `duration` + 30 s, then is killed). CPU accounting over the
    whole run: the server's process tree, the clients together (rusage of
    reaped children) and every other process. Returns a dict: texts (each
    client's output), walls (each client's start-to-exit seconds), wall
    (first start to last exit), server_s, client_s, other_pct, timed_out
    (how many were killed), server_run_s / server_wait_s (the server tree's
    time on a CPU and runnable but waiting, tree_schedstat_ns)."""
    import resource

    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = tree_cpu_ticks(server_pid)
    sched0 = tree_schedstat_ns(server_pid)
    busy0 = system_busy_ticks()
    t0 = time.time()
    procs, starts, ends, files = [], [], [], []
    for argv, path in zip(argvs, raw_paths):
        out = open(path, "w")
        for line in header_lines:
            out.write(f"# {line}\n")
        out.flush()
        files.append(out)
        starts.append(time.time())
        procs.append(spawn(argv, stdout=out, stderr=subprocess.STDOUT))
        ends.append(None)
    timed_out = 0
    while any(e is None for e in ends):
        now = time.time()
        for i, p in enumerate(procs):
            if ends[i] is None and p.poll() is not None:
                ends[i] = now
        if now - t0 > duration + 30:
            for i, e in enumerate(ends):
                if e is None:
                    ends[i] = now
                    timed_out += 1
            break
        time.sleep(0.02)
    for p in procs:
        stop(p, grace=0.2)
    for f in files:
        f.close()
    wall = max(ends) - t0
    cpu1 = tree_cpu_ticks(server_pid)
    sched1 = tree_schedstat_ns(server_pid)
    busy1 = system_busy_ticks()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_s = (cpu1 - cpu0) / CLK_TCK
    client_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    busy_s = (busy1 - busy0) / CLK_TCK
    other_pct = max(0.0, 100.0 * (busy_s - server_s - client_s) / wall / os.cpu_count())
    texts = []
    for path in raw_paths:
        with open(path) as f:
            texts.append(f.read())
    return dict(texts=texts, walls=[e - s for s, e in zip(starts, ends)], wall=wall, server_s=server_s,
                client_s=client_s, other_pct=other_pct, timed_out=timed_out,
                server_run_s=(sched1[0] - sched0[0]) / 1e9, server_wait_s=(sched1[1] - sched0[1]) / 1e9)


def parse_bench_lines(text):
    """The `BENCH k=v ...` lines (from LUA_DONE) and `BENCHLUA k=v ...`
    lines of a wrk output, as two dicts of floats."""
    parsed, lua = {}, {}
    for line in text.splitlines():
        if line.startswith("BENCH ") or line.startswith("BENCHLUA "):
            into = parsed if line.startswith("BENCH ") else lua
            for kv in line.split()[1:]:
                k, v = kv.split("=")
                into[k] = float(v)
    return parsed, lua


def wrk_fields(parsed, server_s, wrk_s, wall, other_pct, server_cores=None, wrk_cores=None):
    """The per-measurement record fields from parsed BENCH lines and the CPU
    accounting (server/wrk cores default to CPU time ÷ wall time)."""
    n = parsed["requests"]
    return dict(
        requests=int(n),
        rps=n / (parsed["duration_us"] / 1e6) if parsed["duration_us"] else 0,
        bytes=int(parsed.get("bytes", 0)),
        p50_us=parsed["p50_us"], p90_us=parsed["p90_us"], p99_us=parsed["p99_us"],
        p999_us=parsed["p999_us"], max_us=parsed["max_us"], mean_us=parsed["mean_us"],
        wrk_p50_us=parsed["wrk_p50_us"], wrk_p99_us=parsed["wrk_p99_us"],
        samples=int(parsed["samples"]), interval_us=int(parsed["interval_us"]),
        errors={k: int(parsed[k]) for k in ("connect", "read", "write", "status", "timeout")},
        server_cpu_s=server_s, wrk_cpu_s=wrk_s,
        cpu_us_per_req=server_s * 1e6 / n if n else None,
        other_cpu_pct=other_pct, wall_s=wall,
        server_cores=server_s / wall if server_cores is None else server_cores,
        wrk_cores=wrk_s / wall if wrk_cores is None else wrk_cores,
    )


def latency_check(tag, parsed, expected, conns):
    """A message if the histogram, once wrk's correction is undone, does not
    hold about `expected` samples (or a bin went negative); else None."""
    if parsed["inversion_negative"] or abs(parsed["samples"] - expected) > 0.01 * expected + conns:
        return (f"{tag}: latency histogram check: {int(parsed['samples'])} samples after undoing "
                f"wrk's correction, expected ~{expected:.0f} (negative bins "
                f"{int(parsed['inversion_negative'])}); latency numbers doubtful")
    return None


def server_exit_problems(tag, p, errfile, nonzero_exit_ok=False):
    """Stops server `p` (SIGTERM, then SIGKILL of its group) and lists what
    went wrong: died during the run, bad exit status, no exit within 5 s,
    group members left behind, anything on stderr."""
    problems = []
    alive = p.poll() is None
    code, leftovers = stop(p)
    if not alive:
        problems.append(f"{tag}: server died during the run (exit {p.returncode})")
    elif code not in (0, None) and not nonzero_exit_ok:
        problems.append(f"{tag}: server exited with {code} after SIGTERM")
    elif code is None:
        problems.append(f"{tag}: server did not exit within 5 s of SIGTERM (killed)")
    if leftovers:
        problems.append(f"{tag}: {leftovers} process(es) of the server's group still alive after it exited")
    try:
        err_text = open(errfile).read().strip()
    except OSError:
        err_text = ""
    if err_text:
        problems.append(f"{tag}: server stderr: {err_text[:300]!r}")
    return problems


class WrkBench:
    """State shared by the wrk benchmark drivers: raw-output directory,
    results, anomalies, notes, and the pause-while-busy budget."""

    def __init__(self, name, args, suffix=None, baseline=None):
        self.args = args
        self.baseline = baseline  # prepare_baseline()'s dict with --baseline, else None
        self.tmp = tmpdir(f"osprey-bench-{name}-")
        self.date = utc_date()
        if suffix is None:
            suffix = "-quick" if args.quick else ""
        self.stem = f"{name}-{self.date}{suffix}"
        self.rawdir = os.path.join(RAW, self.stem)
        os.makedirs(self.rawdir, exist_ok=True)
        self.results = []
        self.paused = 0.0
        self.anomalies = []
        self.notes = []

    def anomaly(self, msg):
        log("  ! " + msg)
        self.anomalies.append(msg)

    def pause_while_busy(self):
        """Waits (polling every ~5 s) while another process is busy, within
        the run's total --pause-budget."""
        if self.paused >= self.args.pause_budget:
            return
        t0 = time.time()
        while self.paused + (time.time() - t0) < self.args.pause_budget:
            busy = busy_processes(window=2.0)
            if not busy:
                break
            log(f"  (pausing: {busy[0][0]:.0f}% `{busy[0][2][:60]}`)")
            time.sleep(3)
        self.paused += time.time() - t0


# --------------------------------------------------------------------------
# --baseline REV: the same binary built from another commit, measured as
# extra targets named `<target>@old` in the same interleaved rounds.
# --------------------------------------------------------------------------

OLD = "@old"
# Within this factor of the old binary counts as "no regression" (the
# connection-engine redesign's acceptance bound: req/s and CPU/req within 3%).
VS_OLD_TOLERANCE = 0.03
# Files besides Cargo.toml's [profile.*] sections that shape a release
# build; prepare_baseline() notes any that differ between the two trees.
_BUILD_FILES = [".cargo/config.toml", ".cargo/config", "rust-toolchain", "rust-toolchain.toml"]


def split_target(target):
    """'reactor@old' -> ('reactor', True); 'reactor' -> ('reactor', False)."""
    if target.endswith(OLD):
        return target[: -len(OLD)], True
    return target, False


def add_baseline_arg(ap):
    ap.add_argument("--baseline", metavar="REV",
                    help="also measure the binary built from git revision REV (in a detached worktree "
                         "under /tmp, its own target dir, same cargo command) as targets named "
                         "TARGET@old, in the same rounds; adds a `vs old` column")


def finish_baseline_targets(ap, a, osprey_targets):
    """After finish_run_args: `X@old` targets need --baseline and an Osprey
    target X (one of `osprey_targets`); with --baseline and no `@old` target
    named, adds `X@old` right after every selected Osprey target X."""
    for t in a.targets:
        base, old = split_target(t)
        if old and not a.baseline:
            ap.error(f"target {t} needs --baseline REV")
    if not a.baseline:
        return a
    if not any(t in osprey_targets for t in a.targets):
        ap.error("--baseline needs at least one Osprey target (" + ", ".join(osprey_targets) + ")")
    if not any(split_target(t)[1] for t in a.targets):
        a.targets = [x for t in a.targets for x in ([t, t + OLD] if t in osprey_targets else [t])]
    return a


def round_order(targets, rnd):
    """The order to measure `targets` in round `rnd`: as given, except that
    in even rounds each `X` / `X@old` pair trades places, so neither binary
    always runs first. Without `@old` targets: as given."""
    order = list(targets)
    if rnd % 2 == 0:
        for i, t in enumerate(targets):
            if not split_target(t)[1] and t + OLD in targets:
                j = targets.index(t + OLD)
                order[i], order[j] = order[j], order[i]
    return order


def _git(args, cwd=REPO):
    r = subprocess.run(["git"] + args, cwd=cwd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} (in {cwd}) failed: {(r.stderr or r.stdout).strip()}")
    return r.stdout.strip()


def _registered_worktrees():
    """Real paths of the worktrees registered in this repository."""
    out = _git(["worktree", "list", "--porcelain"])
    return {os.path.realpath(line[len("worktree "):]) for line in out.splitlines()
            if line.startswith("worktree ")}


def _profile_sections(text):
    """The [profile.*] sections of a Cargo.toml, as text (None if no file)."""
    if text is None:
        return None
    keep, out = False, []
    for line in text.splitlines():
        if line.strip().startswith("["):
            keep = line.strip().startswith("[profile.")
        if keep and line.strip():
            out.append(line.strip())
    return "\n".join(out)


def _file_at(commit, path):
    r = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def _file_now(path):
    try:
        with open(os.path.join(REPO, path)) as f:
            return f.read()
    except OSError:
        return None


def baseline_path(full_hash):
    return os.path.join(tempfile.gettempdir(), f"osprey-baseline-{full_hash[:12]}")


def prepare_baseline(rev, what, build_it=True):
    """Resolves git revision `rev`, checks it out in a detached worktree
    /tmp/osprey-baseline-<12-hex hash> (created with `git worktree add
    --detach`, or reused if it is already there at that commit and clean)
    and builds `what` there with the same cargo command as build(what),
    into the worktree's own target dir. The worktree stays registered for
    the next run (`git worktree remove --force PATH` removes it). With
    build_it False (--no-build) the worktree and binary must exist.
    Returns a dict: rev, hash, short, subject, path, binary, build, notes."""
    if rev.startswith("-"):
        raise SystemExit(f"--baseline {rev}: not a revision")
    r = subprocess.run(["git", "rev-parse", "--verify", "--quiet", rev + "^{commit}"],
                       cwd=REPO, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"--baseline {rev}: not a commit in {REPO}")
    full = r.stdout.strip()
    subject = _git(["log", "-1", "--format=%s", full])
    path = baseline_path(full)
    registered = _registered_worktrees()
    if os.path.exists(path):
        if os.path.realpath(path) not in registered:
            raise SystemExit(f"{path} exists but is not a worktree of {REPO}: remove it and run again")
        head = _git(["rev-parse", "HEAD"], cwd=path)
        if head != full:
            raise SystemExit(f"baseline worktree {path} is at {head[:12]}, not {full[:12]}: "
                             f"`git worktree remove --force {path}` and run again")
        if _git(["status", "--porcelain", "--untracked-files=no"], cwd=path):
            raise SystemExit(f"baseline worktree {path} has local changes: "
                             f"`git worktree remove --force {path}` and run again")
        log(f"baseline {rev} = {full[:12]}: reusing worktree {path}")
    elif not build_it:
        raise SystemExit(f"--no-build: baseline worktree {path} does not exist (run once without --no-build)")
    else:
        # --force only when the path is still registered but its directory
        # was deleted (e.g. /tmp cleaned): git refuses that path otherwise.
        argv = ["worktree", "add", "--detach"] + (["--force"] if os.path.realpath(path) in registered else []) \
            + [path, full]
        log("$ git " + " ".join(argv))
        _git(argv)
    target_dir = os.path.join(path, "target")
    if build_it:
        build(what, cwd=path, env=dict(os.environ, CARGO_TARGET_DIR=target_dir))
    binary = os.path.join(target_dir, *BUILDS[what][1])
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"baseline binary {binary} missing" + (" (--no-build)" if not build_it else ""))
    notes = []
    if _profile_sections(_file_at(full, "Cargo.toml")) != _profile_sections(_file_now("Cargo.toml")):
        notes.append("Cargo.toml's `[profile.*]` sections differ between the two trees: each binary was "
                     "built with its own tree's profile")
    for f in _BUILD_FILES:
        if _file_at(full, f) != _file_now(f):
            notes.append(f"`{f}` differs between the two trees")
    for n in notes:
        log(f"baseline: note: {n}")
    log(f"baseline worktree {path} is kept for the next run (`git worktree remove --force {path}` removes it)")
    return dict(rev=rev, hash=full, short=full[:12], subject=subject, path=path, binary=binary,
                build=" ".join(BUILDS[what][0]), notes=notes)


def _short_subject(s, limit=120):
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def baseline_md(b):
    """Header lines naming both commits (for facts_md's extra lines)."""
    f = machine_facts()
    return [
        f"- New binary (rows without `@old`): commit {f['osprey']} “{_short_subject(f['subject'])}”",
        f"- Old binary (`@old` rows, `--baseline {b['rev']}`): commit {b['short']} "
        f"“{_short_subject(b['subject'])}”, built with the same `{b['build']}` in a detached worktree "
        f"`{b['path']}` (its own `target/`)",
    ] + [f"- Baseline note: {n}" for n in b["notes"]]


def vs_old(results, key_fields):
    """Compares every new-binary group of measurements (grouped by
    `key_fields`, which includes "target") with its `@old` twin. Returns
    {key of the new group: dict(rps, cpu: ratio new ÷ old of the medians over
    rounds; rps_lo/rps_hi, cpu_lo/cpu_hi: min–max of the per-round ratios,
    new ÷ old measured in the same round; rounds; ok: within
    VS_OLD_TOLERANCE)}. A ratio is None when either side has no number."""
    ti = key_fields.index("target")
    groups = {}
    for r in results:
        if "rps" in r:
            groups.setdefault(tuple(r[k] for k in key_fields), {})[r["round"]] = r
    out = {}
    for key, new in groups.items():
        target, old_side = split_target(key[ti])
        if old_side:
            continue
        old = groups.get(key[:ti] + (target + OLD,) + key[ti + 1:])
        if not old:
            continue
        both = sorted(set(new) & set(old))
        row = dict(rounds=len(both))
        for f, name in (("rps", "rps"), ("cpu_us_per_req", "cpu")):
            a = median([r[f] for r in new.values()])
            b = median([r[f] for r in old.values()])
            row[name] = a / b if a and b else None
            per = [new[i][f] / old[i][f] for i in both if new[i][f] and old[i][f]]
            row[name + "_lo"] = min(per, default=None)
            row[name + "_hi"] = max(per, default=None)
        row["ok"] = (row["rps"] is not None and row["cpu"] is not None
                     and row["rps"] >= 1 - VS_OLD_TOLERANCE and row["cpu"] <= 1 + VS_OLD_TOLERANCE)
        out[key] = row
    return out


def fmt_vs_old(cmp, key, target):
    """The `vs old` cell of the row for `key` (target `target`)."""
    if split_target(target)[1]:
        return "*old (baseline)*"
    v = cmp.get(key)
    if v is None:
        return ""

    def one(name):
        x = v[name]
        if x is None:
            return "—"
        rng = f" ({v[name + '_lo']:.3f}–{v[name + '_hi']:.3f})" if v["rounds"] > 1 and v[name + "_lo"] else ""
        return f"{x:.3f}{rng}"
    return f"req/s {one('rps')}, CPU/req {one('cpu')} {'✓' if v['ok'] else '✗'}"


VS_OLD_COLUMN_TEXT = (
    "**vs old** (with `--baseline`): on each new-binary row, its req/s median ÷ the median of the same "
    "target built from the baseline commit (`@old` row, same setup), then its CPU/req median ÷ the old "
    "one's (lower is better); in parentheses the min–max over rounds of the per-round ratio (new ÷ old "
    "measured in the same round); ✓ when req/s ≥ {lo:.2f}× and CPU/req ≤ {hi:.2f}× the old binary's "
    "(medians), else ✗. `@old` rows are the old binary and say *old (baseline)* there."
).format(lo=1 - VS_OLD_TOLERANCE, hi=1 + VS_OLD_TOLERANCE)


def vs_old_summary(cmp, label):
    """A paragraph: how many new-binary rows are within VS_OLD_TOLERANCE of
    the old binary, naming those that are not (`label(key)` names a row)."""
    if not cmp:
        return ["**New vs old binary**: no new-binary row had an `@old` row to compare with.", ""]
    bad = [(k, v) for k, v in cmp.items() if not v["ok"]]
    text = (f"**New vs old binary**: {len(cmp) - len(bad)} of {len(cmp)} rows within "
            f"{VS_OLD_TOLERANCE:.0%} (req/s ≥ {1 - VS_OLD_TOLERANCE:.2f}× and CPU/req ≤ "
            f"{1 + VS_OLD_TOLERANCE:.2f}× the old binary's, medians over rounds)")
    if bad:
        text += "; outside: " + "; ".join(
            f"{label(k)} (req/s {'—' if v['rps'] is None else format(v['rps'], '.3f')}, CPU/req "
            f"{'—' if v['cpu'] is None else format(v['cpu'], '.3f')})" for k, v in bad)
    return [text + ".", ""]


# --------------------------------------------------------------------------
# Reporting: summary over rounds, formatting, chart
# --------------------------------------------------------------------------


def tool_versions():
    """(wrk version, nginx version) as short strings."""
    wrk_v = _cmd_out(["wrk", "--version"]).splitlines()[0].split(" Copyright")[0].strip()
    ngx_v = _cmd_out([nginx_bin(), "-v"]).replace("nginx version: ", "")
    return wrk_v, ngx_v


def summarize(results, key_fields):
    """Groups measurement records by `key_fields` (a tuple of record keys)
    and gives, per group, the medians over rounds (req/s with min–max,
    p50, p99, CPU/req, cores), the error counters summed, and the most
    foreign CPU seen in any round."""
    groups = {}
    for r in results:
        groups.setdefault(tuple(r[k] for k in key_fields), []).append(r)
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
            rps=median([r["rps"] for r in ok]),
            rps_min=min((r["rps"] for r in ok), default=None),
            rps_max=max((r["rps"] for r in ok), default=None),
            p50=median([r["p50_us"] for r in ok]),
            p99=median([r["p99_us"] for r in ok]),
            cpu=median([r["cpu_us_per_req"] for r in ok]),
            errors=errors,
            requests=sum(r["requests"] for r in ok),
            bytes_per_resp=median([r["bytes"] / r["requests"] for r in ok if r.get("requests")]),
            other=max((r["other_cpu_pct"] for r in ok), default=None),
            server_cores=median([r["server_cores"] for r in ok]),
            wrk_cores=median([r["wrk_cores"] for r in ok]),
        )
    return out


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


def fmt_errors(e):
    parts = [k if k.startswith("n/a") else f"{k} {v:,}" for k, v in e.items() if v]
    return ", ".join(parts) if parts else "0"


def noise_note(results):
    """A sentence on how much CPU other processes used during the run."""
    others = [r["other_cpu_pct"] for r in results if "other_cpu_pct" in r]
    if not others:
        return ""
    med, top = median(others), max(others)
    busy = sum(1 for o in others if o > 10)
    note = (f" During the run other processes used a median {med:.0f}% (max {top:.0f}%) of the machine "
            f"per measurement (column **others**)")
    if busy:
        note += (f"; {busy} of {len(others)} measurements saw more than 10%, so the machine did not stay "
                 f"quiet: compare within a round and treat absolute numbers with care")
    return note + "."


def nice_max(v):
    """(axis top, tick step): step a 1/2/2.5/5 × 10^k near v/5, top the next multiple."""
    import math
    if v <= 0:
        return 1, 1
    raw = v / 5
    exp = 10 ** math.floor(math.log10(raw))
    step = next(m * exp for m in (1, 2, 2.5, 5, 10) if m * exp >= raw)
    return math.ceil(v / step) * step, step


def _xml(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg_bar_chart(title, series, panels, width=940, panel_h=300, fmt=fmt_rps):
    """A grouped bar chart, one panel under the other, each with its own
    y scale. series: [(name, colour)] (the legend, and the bar order in a
    group); panels: [(panel title, [(group label, {series name: value}))]].
    Missing or zero values leave a gap. Returns the SVG text."""
    left, right, top_pad = 80, 20, 60
    H = top_pad + len(panels) * (panel_h + 70) + 20
    W = width
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">{_xml(title)}</text>']
    lx = left
    for name, colour in series:
        out.append(f'<rect x="{lx}" y="34" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{lx + 16}" y="45">{_xml(name)}</text>')
        lx += 16 + 8 * len(name) + 30
    for pi, (ptitle, groups) in enumerate(panels):
        y0 = top_pad + pi * (panel_h + 70) + 20
        vals = [v for _, bars in groups for v in bars.values() if v]
        top, step = nice_max(1.08 * max(vals) if vals else 1)
        out.append(f'<text x="{left}" y="{y0 - 6}" font-size="14" font-weight="bold">{_xml(ptitle)}</text>')
        plot_w = W - left - right
        k = 0
        while k * step <= top + 1e-9:
            v = k * step
            y = y0 + panel_h - panel_h * v / top
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{W - right}" y2="{y:.1f}" stroke="#ddd"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
            k += 1
        out.append(f'<line x1="{left}" y1="{y0 + panel_h}" x2="{W - right}" y2="{y0 + panel_h}" stroke="#333"/>')
        gw = plot_w / max(1, len(groups))
        bw = min(44, (gw - 20) / max(1, len(series)))
        for gi, (label, bars) in enumerate(groups):
            gx = left + gi * gw + (gw - bw * len(series)) / 2
            for si, (name, colour) in enumerate(series):
                v = bars.get(name)
                if not v:
                    continue
                h = panel_h * v / top
                x = gx + si * bw
                y = y0 + panel_h - h
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw - 3:.1f}" height="{h:.1f}" '
                           f'fill="{colour}"><title>{_xml(label)} {_xml(name)} ({_xml(ptitle)}): '
                           f'{v:.0f}</title></rect>')
                out.append(f'<text x="{x + (bw - 3) / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                           f'font-size="10">{fmt(v)}</text>')
            out.append(f'<text x="{left + gi * gw + gw / 2:.1f}" y="{y0 + panel_h + 16}" '
                       f'text-anchor="middle">{_xml(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def finish_run_args(ap, a, choices):
    """Fills the run-length defaults every driver shares (--quick: 1 round of
    2 s and no quiet wait; else BENCH_DURATION / BENCH_ROUNDS or 10 s × 3) and
    splits each comma-separated option named in `choices` (option name ->
    allowed values), failing through `ap` on an unknown value."""
    if a.duration is None:
        a.duration = 2 if a.quick else int(os.environ.get("BENCH_DURATION", "10"))
    if a.rounds is None:
        a.rounds = 1 if a.quick else int(os.environ.get("BENCH_ROUNDS", "3"))
    if a.wait_quiet is None:
        a.wait_quiet = not a.quick
    for name, allowed in choices.items():
        values = [v for v in getattr(a, name).split(",") if v]
        for v in values:
            if v not in allowed:
                ap.error(f"unknown {name.rstrip('s')} {v}")
        setattr(a, name, values)
    return a


def write_run(run, lines, numbers):
    """Writes a run's markdown (`results/<stem>.md`) and its numbers
    (`raw/<stem>/results.json`); returns the markdown's path."""
    md_path = os.path.join(RESULTS, f"{run.stem}.md")
    with open(md_path, "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(run.rawdir, "results.json"), "w") as f:
        json.dump(numbers, f, indent=1)
    return md_path

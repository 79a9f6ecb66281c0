"""Shared helpers for the Osprey benchmark scripts in bench/.

Everything here is standard library only: process management with cleanup,
free ports, /proc accounting (CPU time of a process tree, RSS), a "is the
machine quiet?" check, machine/version facts for result headers, and tool
installation (wrk, nginx-light) through apt-get when missing.
"""

import atexit
import datetime
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


# --------------------------------------------------------------------------
# Ports, waiting for servers
# --------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening_line(path, p, timeout=10.0):
    """Waits for `listening on http://127.0.0.1:PORT` in the file `path` that
    the server's stdout goes to. Returns the port."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("listening on http://"):
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


def build(what):
    """what: 'hello' or 'testkit'. cargo is a no-op when up to date."""
    if what == "hello":
        argv = ["cargo", "build", "--release", "--example", "hello"]
    else:
        argv = ["cargo", "build", "--release", "-p", "osprey-testkit"]
    log("$ " + " ".join(argv))
    subprocess.run(argv, cwd=REPO, check=True)


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
    dirty = _cmd_out(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "mem": mem,
        "kernel": os.uname().release,
        "osprey": commit + (" (+ uncommitted changes)" if dirty and dirty != "?" else ""),
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


def nginx_hello_conf(prefix, port, workers, worker_connections, extra_main="", listen_opts=""):
    """nginx.conf for the fair "Hello, World!" comparison: no access log,
    unlimited keep-alive requests, temp paths under `prefix`, and
    `return 200 "Hello, World!"` as text/plain."""
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
    server {{
        listen 127.0.0.1:{port}{listen_opts};
        location / {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
    }}
}}
"""


def write_markdown(stem, lines):
    """Writes `lines` to bench/results/<stem>.md and echoes them."""
    path = os.path.join(RESULTS, f"{stem}.md")
    os.makedirs(RESULTS, exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    log(f"wrote {os.path.relpath(path)}")
    print("\n".join(lines))
    return path


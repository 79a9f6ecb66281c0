#!/usr/bin/env bash
# Captures the exchange that docs/wire-capture.md explains, byte for byte:
# `osprey serve examples/www` on a free port of 127.0.0.1, tcpdump on `lo`
# filtered to that port, and client.py sending three requests on one TCP
# connection (200 with an ETag, a conditional GET answered 304, a Range
# request answered 206 with Connection: close). Then the same exchange again
# against a fresh server under strace, to show the system calls behind the
# segments. Writes next to this script:
#
#   exchange.pcap          the packets (tcpdump -w)
#   exchange-summary.txt   one line per packet (tshark)
#   exchange-hex.txt       IP and TCP headers and payload in hex and ASCII (tcpdump -X)
#   exchange-verbose.txt   every field of every packet dissected, then its bytes (tshark -V -x)
#   exchange-client.txt    what the client saw
#   exchange-strace.txt    the server's system calls for the second run's connection
#
# Usage: docs/wire-capture/capture.sh [--no-build] [--out DIR]
#
# Needs root (or CAP_NET_RAW and ptrace rights); installs tcpdump, tshark and
# strace with apt-get if they are missing. Bounded in time: every wait has a
# timeout, and each process started runs in its own process group, killed on
# exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here"
build=1

while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) build=0 ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "capture.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"

work="$(mktemp -d /tmp/osprey-wire.XXXXXX)"
server_pid=""
tcpdump_pid=""
# stop PID: ends the process group PID leads (each was started with setsid,
# so its pid is its group) and reaps it.
stop() {
    if [[ -n "$1" ]]; then
        kill -TERM -- "-$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    stop "$tcpdump_pid"
    stop "$server_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.05
    done
}

# --- tools -----------------------------------------------------------------
missing=()
command -v tcpdump >/dev/null || missing+=(tcpdump)
command -v tshark >/dev/null || missing+=(tshark)
command -v strace >/dev/null || missing+=(strace)
if ((${#missing[@]})); then
    if [[ $EUID -ne 0 ]]; then
        echo "capture.sh: ${missing[*]} missing; run as root to install them" >&2
        exit 1
    fi
    # tshark's wireshark-common asks whether non-root users may capture;
    # answer no in advance so the install never stops at a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" |
        debconf-set-selections
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# --- server ----------------------------------------------------------------
cd "$root"
if ((build)); then
    cargo build --release -p osprey
fi
osprey="$root/target/release/osprey"
[[ -x "$osprey" ]] || { echo "capture.sh: $osprey not built" >&2; exit 1; }

# start_server [WRAPPER...]: starts `osprey serve examples/www` (behind
# WRAPPER, e.g. strace) on a port the kernel picks; sets server_pid and port.
start_server() {
    # The file exists before the process starts, so the poll never races
    # the redirection.
    : >"$work/server.out"
    setsid "$@" "$osprey" serve examples/www --listen 127.0.0.1:0 --quiet \
        >"$work/server.out" 2>&1 &
    server_pid=$!
    listening() { grep -q '^listening on http://' "$work/server.out"; }
    wait_for 10 listening || {
        echo "capture.sh: the server did not start:" >&2
        cat "$work/server.out" >&2
        exit 1
    }
    local addr
    addr="$(sed -n 's|^listening on http://||p' "$work/server.out" | head -n 1)"
    port="${addr##*:}"
    echo "server on $addr (pid $server_pid)"
}

exchange() {
    timeout 20 python3 "$here/client.py" "$port" examples/www/data/birds.json
}

# --- run 1: the capture ----------------------------------------------------
start_server
capture_port="$port"
# -U: write each packet as it arrives; --immediate-mode: deliver it at once
# rather than when a kernel buffer block fills; -Z root: Debian's tcpdump
# otherwise drops to user `tcpdump`, which cannot write to $work (0700).
# `timeout` is a backstop in case everything below fails to stop it.
: >"$work/tcpdump.err"
setsid timeout 60 tcpdump -i lo -nn -U --immediate-mode -s 0 -Z root \
    -w "$work/exchange.pcap" "tcp port $port" 2>"$work/tcpdump.err" &
tcpdump_pid=$!
capturing() { grep -q 'listening on lo' "$work/tcpdump.err"; }
wait_for 10 capturing || {
    echo "capture.sh: tcpdump did not start:" >&2
    cat "$work/tcpdump.err" >&2
    exit 1
}

exchange | tee "$work/client.txt"

# The exchange is over when the capture holds both FINs and a packet after
# the second one (the last ACK of the connection); then stop tcpdump.
complete() {
    tcpdump -r "$work/exchange.pcap" -nn 2>/dev/null | awk '
        { n++ } /Flags \[F/ { fins++; if (fins == 2) second = n }
        END { exit !(fins >= 2 && n > second) }'
}
wait_for 5 complete || { echo "capture.sh: the capture never saw the connection end" >&2; exit 1; }
kill -INT "$tcpdump_pid" # timeout passes SIGINT on; tcpdump flushes and exits
wait "$tcpdump_pid" 2>/dev/null || true
tcpdump_pid=""
stop "$server_pid"
server_pid=""

# --- run 2: the same exchange under strace ---------------------------------
# A separate run, so that tracing (which slows every system call) cannot
# change the timing of the packets captured above.
start_server strace -f -tt -o "$work/strace.raw" \
    -e trace=accept4,setsockopt,recvfrom,read,pread64,openat,statx,fstat,newfstatat,readlink,readlinkat,fcntl,writev,write,sendmsg,sendto,sendfile,shutdown,close
exchange >/dev/null
stop "$server_pid"
server_pid=""
# Keep the lines of the one accepted connection: from the accept4 that
# returned its descriptor to the close of that descriptor.
awk '
    !fd && /accept4\(/ && $NF ~ /^[0-9]+$/ { fd = $NF }
    fd { print }
    fd && index($0, "close(" fd ")") { exit }
' "$work/strace.raw" >"$work/strace.txt"
[[ -s "$work/strace.txt" ]] || { echo "capture.sh: strace saw no connection" >&2; exit 1; }

# --- renderings ------------------------------------------------------------
cp "$work/exchange.pcap" "$out/exchange.pcap"
cp "$work/client.txt" "$out/exchange-client.txt"
cp "$work/strace.txt" "$out/exchange-strace.txt"
# Times relative to the first packet, so renderings of different runs compare.
tshark -r "$out/exchange.pcap" -t r >"$out/exchange-summary.txt" 2>/dev/null
tcpdump -r "$out/exchange.pcap" -nn -ttttt -X >"$out/exchange-hex.txt" 2>/dev/null
tshark -r "$out/exchange.pcap" -t r -V -x >"$out/exchange-verbose.txt" 2>/dev/null

echo "captured $(wc -l <"$out/exchange-summary.txt") packets on port $capture_port:"
cat "$out/exchange-summary.txt"
echo "wrote $out/exchange{.pcap,-summary.txt,-hex.txt,-verbose.txt,-client.txt,-strace.txt}"

#!/usr/bin/env bash
# Driver for the ring vs aws-lc-rs measurement (see README.md here). It fetches
# the crates, builds one release binary per provider, runs the measurement
# rounds interleaved (each scenario: ring then aws-lc-rs, order flipped every
# other round), times clean builds of this crate with each provider (release and
# debug, -j2, fresh target dirs, after `cargo fetch`), and writes RESULTS.md
# (via report.py) plus the raw data in results/. Everything cargo builds goes
# under $CARGO_TARGET_DIR (default /tmp/tls-provider-target), never into the repo.
#
#   bench/tls-provider/run.sh                 # full run: 7 rounds, 2 clean builds each (~25 min)
#   bench/tls-provider/run.sh --quick         # smoke test: 2 short rounds, no clean builds
#   options: --rounds N  --scale F  --build-repeats N
#            --no-builds / --no-rounds: skip that phase and keep its earlier data
#            --wait-quiet MIN: before each phase wait up to MIN minutes for the
#              machine to be idle (< 15 % busy over 5 s); the wait is recorded
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"
TARGET="${CARGO_TARGET_DIR:-/tmp/tls-provider-target}"
ROUNDS=7
SCALE=1
BUILD_REPEATS=2
QUICK=0
DO_ROUNDS=1
WAIT_QUIET=0
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --scale) SCALE="$2"; shift 2 ;;
        --build-repeats) BUILD_REPEATS="$2"; shift 2 ;;
        --no-builds) BUILD_REPEATS=0; shift ;;
        --no-rounds) DO_ROUNDS=0; shift ;;
        --wait-quiet) WAIT_QUIET="$2"; shift 2 ;;
        --quick) QUICK=1; ROUNDS=2; SCALE=0.1; BUILD_REPEATS=0; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
PROVIDERS=(ring aws-lc-rs)
OUT="$HERE/results"
if [ "$QUICK" = 1 ]; then
    PREFIX="$OUT/quick-"; RESULTS="$HERE/RESULTS-quick.md"
else
    PREFIX="$OUT/"; RESULTS="$HERE/RESULTS.md"
fi
mkdir -p "$OUT" "$TARGET"
ROUNDS_TSV="${PREFIX}rounds.tsv"
BUILDS_TSV="${PREFIX}builds.tsv"
META_TSV="${PREFIX}meta.tsv"                # machine, rewritten every run
ROUNDS_META="${PREFIX}rounds-meta.tsv"      # conditions of the rounds phase
BUILDS_META="${PREFIX}builds-meta.tsv"      # conditions of the builds phase
LOG="$TARGET/run.log"
: >"$LOG"

say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
# Busy share of all CPUs between two /proc/stat samples (both cores = 100 %).
cpu_sample() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
busy_pct() { # $1 $2 = "busy total" before, after
    awk -v a="$1" -v b="$2" 'BEGIN{split(a,x," ");split(b,y," ");
        d=y[2]-x[2]; printf "%.0f", (d > 0 ? 100*(y[1]-x[1])/d : 0)}'
}
# Waits up to $WAIT_QUIET minutes for < 15 % busy over 5 s; prints what it saw.
wait_quiet() {
    local deadline=$(( $(date +%s) + 60 * WAIT_QUIET )) a b pct
    while :; do
        a="$(cpu_sample)"; sleep 5; b="$(cpu_sample)"; pct="$(busy_pct "$a" "$b")"
        if [ "$pct" -lt 15 ]; then echo "quiet ($pct % busy)"; return; fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "not quiet: $pct % busy after waiting up to $WAIT_QUIET min"; return
        fi
        sleep 25
    done
}

{
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'nproc\t%s\n' "$(nproc)"
    printf 'cpu\t%s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    printf 'cpu_family_model\t%s\n' "$(awk -F': ' '/^cpu family/{f=$2} /^model\t/{m=$2} END{print "family " f ", model " m}' /proc/cpuinfo)"
    printf 'cpu_flags\t%s\n' "$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'aes|avx2|avx512f|vaes|vpclmulqdq|sha_ni|adx|bmi2' | tr '\n' ' ')"
    printf 'mem\t%s\n' "$(free -g | awk '/^Mem:/{print $2 " GiB"}')"
    printf 'kernel\t%s\n' "$(uname -r)"
    printf 'rustc\t%s\n' "$(rustc --version)"
    printf 'cargo\t%s\n' "$(cargo --version)"
    printf 'cc\t%s\n' "$(cc --version | head -1)"
    for t in cmake nasm clang; do
        printf 'have_%s\t%s\n' "$t" "$(command -v "$t" >/dev/null && "$t" --version | head -1 || echo no)"
    done
} >"$META_TSV"

say "cargo fetch"
CARGO_TARGET_DIR="$TARGET" cargo fetch --locked >>"$LOG" 2>&1

# --- bench binaries (not timed) --------------------------------------------
for p in "${PROVIDERS[@]}"; do
    say "building the $p bench binary"
    CARGO_TARGET_DIR="$TARGET/bench-$p" cargo build --release --locked --offline \
        --features "$p" >>"$LOG" 2>&1
done
bin() { echo "$TARGET/bench-$1/release/tls-provider-bench"; }
for p in "${PROVIDERS[@]}"; do "$(bin "$p")" --timer-cost >>"$LOG"; done

# --- interleaved rounds -------------------------------------------------------
if [ "$DO_ROUNDS" = 1 ]; then
say "waiting for a quiet machine (up to $WAIT_QUIET min)"
quiet="$(wait_quiet)"
{
    printf 'rounds_quiet\t%s\n' "$quiet"
    printf 'rounds_date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'rounds\t%s\n' "$ROUNDS"
    printf 'scale\t%s\n' "$SCALE"
    printf 'rounds_loadavg_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$ROUNDS_META"
mapfile -t SCENARIOS < <("$(bin ring)" --list | cut -f1)
printf 'round\tprovider\tscenario\tunits\tunit\tserver_cpu_s\tserver_cpu_raw_s\tserver_wall_s\ttotal_cpu_s\ttotal_wall_s\tsections\ttimer_inside_ns\ttimer_whole_ns\tnegotiated\n' >"$ROUNDS_TSV"
before="$(cpu_sample)"
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order=(ring aws-lc-rs); else order=(aws-lc-rs ring); fi
    say "round $r/$ROUNDS (${order[*]})"
    for s in "${SCENARIOS[@]}"; do
        for p in "${order[@]}"; do
            "$(bin "$p")" --scenario "$s" --scale "$SCALE" | sed "s/^/$r\t/" >>"$ROUNDS_TSV"
        done
    done
done
{
    printf 'busy_rounds_pct\t%s\n' "$(busy_pct "$before" "$(cpu_sample)")"
    printf 'rounds_loadavg_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$ROUNDS_META"
fi

# --- clean builds ---------------------------------------------------------------
if [ "$BUILD_REPEATS" -gt 0 ]; then
    printf 'repeat\tprovider\tprofile\tseconds\tcpu_seconds\taws_lc_sys_builder\tslowest_units\n' >"$BUILDS_TSV"
    say "waiting for a quiet machine (up to $WAIT_QUIET min)"
    quiet="$(wait_quiet)"
    {
        printf 'builds_quiet\t%s\n' "$quiet"
        printf 'builds_date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf 'build_repeats\t%s\n' "$BUILD_REPEATS"
        printf 'builds_loadavg_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    } >"$BUILDS_META"
    before="$(cpu_sample)"
    for rep in $(seq 1 "$BUILD_REPEATS"); do
        if [ $((rep % 2)) = 1 ]; then order=(ring aws-lc-rs); else order=(aws-lc-rs ring); fi
        for p in "${order[@]}"; do
            for profile in release debug; do
                dir="$TARGET/clean-$p-$profile"
                rm -rf "$dir"
                flag=(); [ "$profile" = release ] && flag=(--release)
                say "clean build $rep/$BUILD_REPEATS: $p $profile"
                # bash's `time` gives wall and the CPU time (user + sys) of cargo and
                # every compiler it ran; CPU time hardly moves with other load.
                TIMEFORMAT='%R %U %S'
                times_="$( { time CARGO_TARGET_DIR="$dir" cargo build "${flag[@]}" -j2 --locked \
                    --offline --features "$p" --timings >>"$LOG" 2>&1 ; } 2>&1 )"
                read -r wall user sys <<<"$times_"
                # aws-lc-sys says which builder it used ("Building with: CC" or CMake).
                builder="$(cat "$dir"/*/build/aws-lc-sys-*/output 2>/dev/null \
                    | grep -m1 'Building with' | sed 's/.*Building with: *//' || true)"
                slowest="$(python3 "$HERE/report.py" --slowest-units "$dir"/cargo-timings/cargo-timing.html)"
                printf '%s\t%s\t%s\t%.1f\t%.1f\t%s\t%s\n' "$rep" "$p" "$profile" "$wall" \
                    "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')" "${builder:--}" "$slowest" >>"$BUILDS_TSV"
                rm -rf "$dir"
            done
        done
    done
    {
        printf 'busy_builds_pct\t%s\n' "$(busy_pct "$before" "$(cpu_sample)")"
        printf 'builds_loadavg_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    } >>"$BUILDS_META"
fi

meta=("$META_TSV")
[ -f "$ROUNDS_META" ] && meta+=("$ROUNDS_META")
[ -f "$BUILDS_META" ] && meta+=("$BUILDS_META")
[ -f "$BUILDS_TSV" ] || printf 'repeat\tprovider\tprofile\tseconds\tcpu_seconds\taws_lc_sys_builder\tslowest_units\n' >"$BUILDS_TSV"
python3 "$HERE/report.py" --rounds "$ROUNDS_TSV" --builds "$BUILDS_TSV" --meta "${meta[@]}" \
    --lock "$HERE/Cargo.lock" >"$RESULTS"
say "wrote $RESULTS"

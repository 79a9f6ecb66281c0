# Sourced by the bench/*.sh wrappers: runs bench/$1 with python3 and the
# remaining arguments. Python kills every process it starts on exit; the
# trap here is the backstop if Python itself is killed: it kills the process
# groups Python recorded in $BENCH_PGID_FILE.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export BENCH_PGID_FILE="$(mktemp /tmp/osprey-bench-pgids.XXXXXX)"
cleanup() {
    if [[ -s "$BENCH_PGID_FILE" ]]; then
        while read -r pgid; do
            [[ -n "$pgid" ]] && kill -KILL -- "-$pgid" 2>/dev/null || true
        done < "$BENCH_PGID_FILE"
    fi
    rm -f "$BENCH_PGID_FILE" "$BENCH_PGID_FILE.tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
script="$1"
shift
python3 "$here/$script" "$@"

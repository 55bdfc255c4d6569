#!/usr/bin/env bash
# Run the Xvfb session test N times beside K busy-loop CPU hogs and count the passes (issue 31, finding 7).
#
#   [PYTHON=.venv/bin/python] scripts/soak_session_test.sh [--runs 50] [--hogs 2] [--log FILE] [--keep DIR] [--test NODEID]
#
# Each run gets its own pytest basetemp under --keep (default: a temporary folder, removed at the end unless a
# run failed), so a failed run's app.log, companion.log and screenshots stay for diagnosis. The hogs are
# `python -c 'while True: pass'` processes started before the first run and killed (by pid) after the last.
# The last line of the log is the summary, e.g. "passed 50/50 (hogs 2, load ..., ...)".
set -u

runs=50
hogs=2
log=/tmp/soak_session.log
keep=""
test_id="tests/ui/test_session_xvfb.py::test_first_session_start_to_finish"
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --hogs) hogs="$2"; shift 2 ;;
        --log) log="$2"; shift 2 ;;
        --keep) keep="$2"; shift 2 ;;
        --test) test_id="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
[ -n "$keep" ] || keep="$(mktemp -d /tmp/soak_session.XXXXXX)"
mkdir -p "$keep"

hog_pids=()
stop_hogs() {
    for pid in "${hog_pids[@]}"; do kill "$pid" 2>/dev/null; done
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM  # stops after the run in progress (bash waits for it); the EXIT trap kills the hogs
for _ in $(seq "$hogs"); do
    "$python" -c 'while True: pass' &
    hog_pids+=("$!")
done

cd "$repo" || exit 2
echo "soak: $runs runs of $test_id beside $hogs CPU hogs ($(nproc) CPUs), $(git rev-parse --short HEAD)" >> "$log"
passed=0
failed_runs=()
t0=$(date +%s)
for i in $(seq "$runs"); do
    start=$(date +%s)
    PYTHONPATH="$repo" OMP_NUM_THREADS=1 timeout 300 "$python" -m pytest -x -q -p no:cacheprovider \
        --basetemp="$keep/run$i" "$test_id" >> "$log" 2>&1
    rc=$?
    # log lines the app wrote to its log file but that never reached its stderr (the test reads stderr)
    lost=$("$python" - "$keep/run$i" <<'PY'
import re, sys
from pathlib import Path
n = 0
for app_log in Path(sys.argv[1]).glob("*/app.log"):
    shown = set(app_log.read_text(errors="replace").splitlines())
    for f in app_log.parent.glob("home/**/companion.log"):
        for line in f.read_text(errors="replace").splitlines():
            n += bool(re.match(r"\d{4}-", line)) and re.sub(r" \d+ (?=[A-Z]+ )", " ", line, count=1) not in shown
print(n)
PY
)
    echo "run $i rc=$rc $(( $(date +%s) - start )) s load $(cut -d' ' -f1 /proc/loadavg) lost_log_lines ${lost:-?}" >> "$log"
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        rm -rf "$keep/run$i"
    else
        failed_runs+=("$i")
    fi
done
summary="passed $passed/$runs (hogs $hogs, $(nproc) CPUs, $(( $(date +%s) - t0 )) s, failed runs: ${failed_runs[*]:-none}, kept in $keep)"
echo "$summary" >> "$log"
echo "$summary"
[ ${#failed_runs[@]} -eq 0 ] && rm -rf "$keep"
[ "$passed" -eq "$runs" ]

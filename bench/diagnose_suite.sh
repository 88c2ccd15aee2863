#!/usr/bin/env bash
# diagnose on a real third-party suite: python-dateutil 2.9.0.post0's own
# tests (about 2,100 test cases, pytest), with two flaky tests injected:
#   - test_wall_clock_fraction: fails when the wall clock's fraction of a
#     second is 0.6 or more (about 40% of runs; a frozen clock fixes it);
#   - test_scratch_file_left: leaves a file in /tmp and fails when it is
#     already there (every run after the first; a fresh /tmp fixes it).
# It prints one bare run of the suite, the whole diagnosis (no --junit, no
# change to the command: the runner layer finds pytest), their ratio, and the
# two injected tests' verdicts.
#   bench/diagnose_suite.sh                # the figures
#   KEEP=1 bench/diagnose_suite.sh         # keep the JSON report in $CACHE
# Needs PyPI (once: the sdist and a venv are cached under $CACHE).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cargo build --release -q -p flakebox
. bench/lib.sh
F=$(release_dir)/flakebox

CACHE=${FLAKEBOX_BENCH_CACHE:-$HOME/.cache/flakebox-bench}
SUITE=$CACHE/python-dateutil-2.9.0.post0
VENV=$CACHE/venv
mkdir -p "$CACHE"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q pytest==9.2.0 six==1.17.0 hypothesis==6.170.17 \
    freezegun==1.5.5 attrs==26.1.0 pytest-cov==7.1.0
fi
if [ ! -d "$SUITE" ]; then
  tmp=$(mktemp -d)
  "$VENV/bin/pip" download -q --no-binary :all: --no-deps -d "$tmp" python-dateutil==2.9.0.post0
  tar xzf "$tmp"/python-dateutil-2.9.0.post0.tar.gz -C "$CACHE"
  rm -rf "$tmp"
fi
cat >"$SUITE/tests/test_flakebox_injected.py" <<'PY'
"""Two flaky tests injected by flakebox's bench/diagnose_suite.sh."""
import os
import time

SCRATCH = "/tmp/flakebox-bench-dateutil-scratch"


def test_wall_clock_fraction():
    # A timestamp rounded to the second must not round up.
    now = time.time()
    assert now - int(now) < 0.6, f"{now} rounds up"


def test_scratch_file_left():
    marker = os.path.join(SCRATCH, "marker")
    assert not os.path.exists(marker), f"{marker} is left from an earlier run"
    os.makedirs(SCRATCH, exist_ok=True)
    with open(marker, "w") as f:
        f.write("x")
PY
cmd=(env PYTHONPATH=src "$VENV/bin/python" -m pytest -q -p no:cacheprovider
     -W "ignore::pytest.PytestRemovedIn10Warning" -W "ignore::DeprecationWarning" tests)
cleanup() { rm -rf /tmp/flakebox-bench-dateutil-scratch; }
trap cleanup EXIT

cd "$SUITE"
cleanup
t0=$(date +%s.%N)
"${cmd[@]}" >"$CACHE/bare.log" 2>&1 || true
t1=$(date +%s.%N)
cleanup
bare=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
echo "one bare run: ${bare}s ($(tail -1 "$CACHE/bare.log"))"

t0=$(date +%s.%N)
"$F" diagnose --format json -- "${cmd[@]}" >"$CACHE/report.json" 2>"$CACHE/diagnose.log" || true
t1=$(date +%s.%N)
diag=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
cd "$root"
python3 - "$CACHE/report.json" "$bare" "$diag" <<'PY'
import json, sys
path, bare, diag = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
d = json.load(open(path))
print(f"diagnose: {diag:.1f}s = {diag / bare:.1f}x one bare run; {d['runs_total']} runs; verdict {d['verdict']}")
for c in d["conditions"]:
    print(f"  {','.join(c['isolate']) or 'baseline':12} runs {c['runs']:4} failed {c['failed']:4}")
tests = d.get("tests", [])
print(f"{len(tests)} test cases reported")
for t in tests:
    if "flakebox_injected" in t["name"] or t["verdict"] not in ("stable",):
        f = t.get("factors") or []
        first = f"{f[0]['factor']} {f[0]['effect']}" if f else "-"
        print(f"  {t['name']}: {t['verdict']} ({first})")
PY
[ -n "${KEEP:-}" ] || rm -f "$CACHE/report.json"

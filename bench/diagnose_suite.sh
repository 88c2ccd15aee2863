#!/usr/bin/env bash
# diagnose on a real third-party suite, with two flaky tests injected:
#   - test_wall_clock_fraction: fails when the wall clock's fraction of a
#     second is 0.6 or more (about 40% of runs; a frozen clock fixes it);
#   - test_scratch_file_left: leaves a file in /tmp and fails when it is
#     already there (every run after the first; a fresh /tmp fixes it).
# The suites (pytest, about 2,000 test cases each):
#   dateutil  python-dateutil 2.9.0.post0's tests: a fast suite (~1.5 ms a
#             test), where Python's and pytest's start-up weigh most in a
#             focused rerun;
#   faker     Faker 40.54.0's tests: a suite whose tests do real work.
# It prints one bare run of the suite, the whole diagnosis (no --junit, no
# change to the command: the runner layer finds pytest), their ratio, and the
# two injected tests' verdicts.
#   bench/diagnose_suite.sh [dateutil|faker]   # the figures (default dateutil)
#   KEEP=1 bench/diagnose_suite.sh             # keep the JSON report in $CACHE
# Needs PyPI (once: the sdists and a venv per suite are cached under $CACHE).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
which=${1:-dateutil}
cargo build --release -q -p flakebox
. bench/lib.sh
F=$(release_dir)/flakebox

CACHE=${FLAKEBOX_BENCH_CACHE:-$HOME/.cache/flakebox-bench}
mkdir -p "$CACHE"
# fetch_sdist NAME VERSION: unpack NAME's sdist into $CACHE once.
fetch_sdist() {
  local dir=$CACHE/$1-$2
  if [ ! -d "$dir" ]; then
    local tmp
    tmp=$(mktemp -d)
    "$VENV/bin/pip" download -q --no-binary :all: --no-deps -d "$tmp" "$1==$2"
    tar xzf "$tmp"/*.tar.gz -C "$CACHE"
    rm -rf "$tmp"
  fi
  echo "$dir"
}
case $which in
  dateutil)
    VENV=$CACHE/venv
    if [ ! -x "$VENV/bin/python" ]; then
      python3 -m venv "$VENV"
      "$VENV/bin/pip" install -q pytest==9.2.0 six==1.17.0 hypothesis==6.170.17 \
        freezegun==1.5.5 attrs==26.1.0 pytest-cov==7.1.0
    fi
    SUITE=$(fetch_sdist python-dateutil 2.9.0.post0)
    cmd=(env PYTHONPATH=src "$VENV/bin/python" -m pytest -q -p no:cacheprovider
         -W "ignore::pytest.PytestRemovedIn10Warning" -W "ignore::DeprecationWarning" tests)
    ;;
  faker)
    VENV=$CACHE/venv-faker
    if [ ! -x "$VENV/bin/python" ]; then
      python3 -m venv "$VENV"
      # Faker's tox.ini test dependencies, pinned.
      "$VENV/bin/pip" install -q pytest==9.2.0 freezegun==1.5.5 python-stdnum==2.2 \
        ukpostcodeparser==1.1.2 validators==0.36.0 xmltodict==1.0.4
    fi
    SUITE=$(fetch_sdist faker 40.54.0)
    cmd=(env PYTHONPATH=. "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests)
    ;;
  *)
    echo "bench/diagnose_suite.sh: unknown suite '$which': use dateutil or faker" >&2
    exit 2
    ;;
esac
cat >"$SUITE/tests/test_flakebox_injected.py" <<'PY'
"""Two flaky tests injected by flakebox's bench/diagnose_suite.sh."""
import os
import time

SCRATCH = "/tmp/flakebox-bench-suite-scratch"


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
cleanup() { rm -rf /tmp/flakebox-bench-suite-scratch; }
trap cleanup EXIT

cd "$SUITE"
cleanup
t0=$(date +%s.%N)
"${cmd[@]}" >"$CACHE/$which-bare.log" 2>&1 || true
t1=$(date +%s.%N)
cleanup
bare=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
echo "one bare run: ${bare}s ($(tail -1 "$CACHE/$which-bare.log"))"

t0=$(date +%s.%N)
"$F" diagnose --format json -- "${cmd[@]}" >"$CACHE/$which-report.json" 2>"$CACHE/$which-diagnose.log" || true
t1=$(date +%s.%N)
diag=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
cd "$root"
python3 - "$CACHE/$which-report.json" "$bare" "$diag" <<'PY'
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
[ -n "${KEEP:-}" ] || rm -f "$CACHE/$which-report.json"

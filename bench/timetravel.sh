#!/usr/bin/env bash
# timetravel: wall time of one pass over the time-bomb suite against one plain
# run of the suite, with 1 and 2 probes at a time, with the default first pass
# and with every instant probed (--all-probes, the full probe set). FLAKEBOX=PATH
# measures that binary instead of building this tree's (e.g. a build of an
# earlier commit; set ALL_PROBES= for a build without --all-probes).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
if [ -n "${FLAKEBOX:-}" ]; then
  F=$(realpath "$FLAKEBOX")
else
  cargo build --release -q -p flakebox
  F=$(release_dir)/flakebox
fi
cd examples/timebombs
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N); python3 -c "print($t1 - $t0)"; }
plain=$(seconds ./run.sh)
echo "one plain run of the suite: ${plain}s"
for all in "" ${ALL_PROBES---all-probes}; do
for jobs in 1 2; do
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086 # $all is one flag or none
  TZ=Europe/Berlin "$F" timetravel --jobs "$jobs" $all --now 2026-11-22T12:00:00Z \
    --junit /tmp/junit-timebombs.xml --format json -- ./run.sh >/tmp/flakebox-tt-bench.json 2>/dev/null || true
  t=$(python3 -c "print($(date +%s.%N) - $t0)")
  python3 - "$jobs" "$t" "$plain" "$all" <<'PY'
import json, sys
jobs, t, plain, flag = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
d = json.load(open("/tmp/flakebox-tt-bench.json"))
runs = sum(len(p["runs"]) for p in d["probes"])
probes = len(d["probes"])
ran = sum(1 for p in d["probes"] if p["runs"])
print(f'--jobs {jobs} {flag:12}: {t:6.1f} s, {ran} of {probes} probes run, {runs} runs = {t / plain:5.1f}x one plain run ({plain:.2f} s); {d["time_bombs"]} time bombs')
PY
done
done
rm -f /tmp/flakebox-tt-bench.json

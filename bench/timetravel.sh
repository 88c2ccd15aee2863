#!/usr/bin/env bash
# timetravel: wall time of one pass over the time-bomb suite against one plain
# run of the suite, with 1 and 2 probes at a time. FLAKEBOX=PATH measures that
# binary instead of building this tree's (e.g. a build of an earlier commit).
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
for jobs in 1 2; do
  t0=$(date +%s.%N)
  TZ=Europe/Berlin "$F" timetravel --jobs "$jobs" --now 2026-11-22T12:00:00Z \
    --junit /tmp/junit-timebombs.xml --format json -- ./run.sh >/tmp/flakebox-tt-bench.json 2>/dev/null || true
  t=$(python3 -c "print($(date +%s.%N) - $t0)")
  python3 - "$jobs" "$t" "$plain" <<'PY'
import json, sys
jobs, t, plain = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
d = json.load(open("/tmp/flakebox-tt-bench.json"))
runs = sum(len(p["runs"]) for p in d["probes"])
probes = len(d["probes"])
print(f'--jobs {jobs}: {t:6.1f} s for {probes} probes, {runs} runs = {t / plain:5.1f}x one plain run ({plain:.2f} s); {d["time_bombs"]} time bombs')
PY
done
rm -f /tmp/flakebox-tt-bench.json

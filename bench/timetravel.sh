#!/usr/bin/env bash
# timetravel: wall time of one pass over the time-bomb suite against one plain
# run of the suite, with 1 and 2 probes at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p flakebox
. bench/lib.sh
F=$(release_dir)/flakebox
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
print(f'--jobs {jobs}: {t:6.1f} s for {runs} runs = {t / plain:5.1f}x one plain run ({plain:.2f} s); {d["time_bombs"]} time bombs')
PY
done
rm -f /tmp/flakebox-tt-bench.json

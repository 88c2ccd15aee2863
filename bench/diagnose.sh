#!/usr/bin/env bash
# diagnose: runs used per verdict and wall time for the fast examples, and how
# much of the wall time is flakebox's own (sandbox set-up, teardown, the
# orchestration) rather than the command's.
#   bench/diagnose.sh            # all figures
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p flakebox
. bench/lib.sh
F=$(release_dir)/flakebox

row() { # name, then the diagnose arguments
  local name=$1; shift
  local json
  json=$("$F" diagnose --format json "$@" 2>/dev/null) || true
  python3 - "$name" "$json" <<'PY'
import json, sys
name, text = sys.argv[1], sys.argv[2]
d = json.loads(text)
first = d["factors"][0] if d["factors"] else None
effect = f'{first["factor"]} {first["effect"]}' if first else "-"
per_cond = d["runs_total"] / max(1, len(d["conditions"]))
print(f'{name:28} {d["verdict"]:12} {effect:14} {d["runs_total"]:5} {per_cond:8.1f} {d["wall_seconds"]:8.1f}')
PY
}

echo "## Runs per verdict (adaptive; examples/shell)"
printf '%-28s %-12s %-14s %5s %8s %8s\n' example verdict "first factor" runs "per cond" "wall s"
row tmp_pollution.sh -- examples/shell/tmp_pollution.sh
row clock_second.sh --factors net,fs,time -- examples/shell/clock_second.sh
row random.sh --factors net,fs,time -- examples/shell/random.sh
row stable.sh -- examples/shell/stable.sh
row stable_fail.sh -- examples/shell/stable_fail.sh

echo
echo "## flakebox's own share, a command of 100 ms (sh -c 'sleep 0.1'), 10 runs per condition"
for factors in net,fs,time net,fs,time,db; do
  json=$("$F" diagnose --format json --runs 10 --factors "$factors" -- sh -c 'sleep 0.1' 2>/dev/null) || true
  python3 - "$factors" "$json" <<'PY'
import json, sys
factors, d = sys.argv[1], json.loads(sys.argv[2])
runs, wall = d["runs_total"], d["wall_seconds"]
ideal = runs * 0.100  # the command alone: sleep 0.1 (sh's own start-up is counted as ours)
print(f'factors {factors:14} runs {runs:3}  wall {wall:6.2f} s  command alone {ideal:5.2f} s  '
      f'flakebox share {(wall - ideal) / wall * 100:5.1f}%  ({(wall - ideal) / runs * 1000:5.1f} ms per run)')
PY
done

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
echo "## flakebox's own share for a command of ~100 ms, 10 runs per condition"
echo "(wall: the whole diagnose process, timed from outside; command alone: the"
echo " median of 20 plain runs of the same command, 10 before and 10 after, times"
echo " the number of runs. The computing command's own time varies by +-15% from"
echo " minute to minute on a shared VM: read its rows over several passes)"
# Two commands of ~100 ms: one that waits, one that computes (flakebox's
# background work -- the next run's set-up, the last one's teardown -- then
# competes with it for the 2 CPUs). The loop count is tuned to ~100 ms here.
n=$(python3 - <<'PY'
import subprocess, time
n = 200000
while True:
    t = time.perf_counter(); subprocess.run(["awk", f"BEGIN {{ for (i = 0; i < {n}; i++) s += i }}"]); t = time.perf_counter() - t
    if t > 0.05:
        print(int(n * 0.1 / t)); break
    n *= 2
PY
)
share() { # label, factors, then the command
  local label=$1 factors=$2; shift 2
  python3 - "$F" "$label" "$factors" "$@" <<'PY'
import json, statistics, subprocess, sys, time
f, label, factors, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
plain = []
def time_plain(n):
    for _ in range(n):
        t = time.perf_counter(); subprocess.run(cmd); plain.append(time.perf_counter() - t)
time_plain(10)  # before and after: the machine's speed drifts
t = time.perf_counter()
out = subprocess.run([f, "diagnose", "--format", "json", "--runs", "10", "--factors", factors, "--", *cmd],
                     capture_output=True, text=True)
wall = time.perf_counter() - t
time_plain(10)
alone = statistics.median(plain)
runs = json.loads(out.stdout)["runs_total"]
ideal = runs * alone
print(f"{label:8} {factors:14} runs {runs:3}  wall {wall:6.2f} s  command alone {ideal:5.2f} s "
      f"({alone * 1000:5.1f} ms)  flakebox share {(wall - ideal) / wall * 100:5.1f}% "
      f"({(wall - ideal) / runs * 1000:5.1f} ms per run)")
PY
}
for factors in net,fs,time net,fs,time,db; do
  share waits "$factors" sh -c 'sleep 0.1'
  share computes "$factors" awk "BEGIN { for (i = 0; i < $n; i++) s += i }"
done

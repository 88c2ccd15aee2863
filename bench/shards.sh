#!/usr/bin/env bash
# shards: wall time of one fixed diagnosis run as 1 shard, then as 4 shards
# side by side on this machine (4 `diagnose --shard K/4` processes at once,
# then `flakebox merge`), for a command that waits and one that computes.
# Side by side on one machine the CPUs bound the speed-up: the waiting
# command shows what separate machines would give (each shard on its own
# machine takes 1/N of the rounds), the computing one what 2 CPUs allow.
#   bench/shards.sh [ROUNDS]     # default 16 rounds (x 4 conditions)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p flakebox
. bench/lib.sh
F=$(release_dir)/flakebox
ROUNDS=${1:-16}
work=$(mktemp -d /tmp/flakebox-bench-shards.XXXXXX)
trap 'rm -rf "$work"' EXIT

# ~200 ms of computing, tuned here.
n=$(python3 - <<'PY'
import subprocess, time
n = 200000
while True:
    t = time.perf_counter(); subprocess.run(["awk", f"BEGIN {{ for (i = 0; i < {n}; i++) s += i }}"]); t = time.perf_counter() - t
    if t > 0.05:
        print(int(n * 0.2 / t)); break
    n *= 2
PY
)

now() { date +%s.%N; }

bench() { # label, then the command
  local label=$1; shift
  local args=(--factors net,fs,time --runs "$ROUNDS" --time 2026-01-01T12:00:00Z)
  local t0 t1 t2 v1 v4
  t0=$(now)
  (cd "$work" && "$F" diagnose "${args[@]}" --shard 1/1 --plan-id bench --out one.json -- "$@" >/dev/null 2>&1)
  t1=$(now)
  for k in 1 2 3 4; do
    (cd "$work" && "$F" diagnose "${args[@]}" --shard "$k/4" --plan-id bench --out "four-$k.json" -- "$@" >/dev/null 2>&1) &
  done
  wait
  (cd "$work" && "$F" merge --format json four-*.json > four.json) || true
  t2=$(now)
  v1=$(cd "$work" && "$F" merge --format json one.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["verdict"])' || true)
  v4=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$work/four.json")
  python3 - "$label" "$t0" "$t1" "$t2" "$v1" "$v4" "$ROUNDS" <<'PY'
import sys
label, t0, t1, t2, v1, v4, rounds = sys.argv[1:]
one, four = float(t1) - float(t0), float(t2) - float(t1)
print(f"{label:34} {int(rounds)*4:5} {one:9.1f} {four:13.1f} {one/four:8.2f}x   {v1} / {v4}")
PY
}

echo "shards: $ROUNDS rounds x 4 conditions (net, fs, time, all), $(nproc) CPUs"
printf '%-34s %5s %9s %13s %9s   %s\n' command runs "1 shard s" "4 shards s" speed-up "verdict 1 / 4"
bench "sleep 0.2 (waits)" sleep 0.2
bench "awk loop ~0.2 s (computes)" awk "BEGIN { for (i = 0; i < $n; i++) s += i }"

#!/usr/bin/env bash
# Benchmark: what the root hardening of issue 15 costs a whole run of
# `flakebox run -- /bin/true`, set-up and teardown, against the run without
# it. bench/steps.sh times each step's own set-up work from inside; this
# times whole runs with and without the steps, as a user pays for them:
#   full     as shipped: minimal /dev, capabilities dropped
#   no-dev   the host's /dev bound instead (as before, and as rootless does)
#   no-caps  every capability left to the command (as before)
#   neither  both, i.e. flakebox run as it was before the two steps
# The variants run interleaved, round after round, so a change of load hits
# all of them alike; the cost of a step is the median of its per-round
# difference, with a bootstrap 95% interval. The switches exist only in a
# build with `--features bench-toggles` (into target/bench-toggles), never in
# the product. /proc's guards are in every variant (not part of the budget).
# Goal (issue 15): capabilities + minimal /dev at most 0.1 ms per run.
#
#   bench/hardening.sh              # 1000 rounds, as root
#   ROUNDS=3000 bench/hardening.sh
#   RUN_ARGS="--share rand" bench/hardening.sh   # options for each run
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-1000}
[[ $(id -u) == 0 ]] || { echo "run bench/hardening.sh as root: the steps are root's" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench/hardening.sh needs python3" >&2; exit 2; }

cargo build --release -q -p flakebox --features bench-toggles --target-dir target/bench-toggles
. bench/lib.sh
FB=$(CARGO_TARGET_DIR=target/bench-toggles release_dir)/flakebox

python3 - "$FB" "$ROUNDS" "${RUN_ARGS:-}" <<'EOF'
import os, random, statistics, subprocess, sys, time

fb, rounds, run_args = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
variants = {"full": "", "no-dev": "dev", "no-caps": "caps", "neither": "dev,caps"}
times = {v: [] for v in variants}
base = dict(os.environ)
argv = [fb, "run", *run_args, "--", "/bin/true"]
for _ in range(rounds):
    for name, without in variants.items():
        env = dict(base, FLAKEBOX_BENCH_WITHOUT=without)
        t = time.perf_counter()
        subprocess.run(argv, env=env, cwd="/", check=True, stdout=subprocess.DEVNULL)
        times[name].append(time.perf_counter() - t)

def us(x):
    return f"{x * 1e6:7.1f}"

def cost(a, b):
    """Median of the per-round differences a - b, with a bootstrap 95% interval."""
    d = [x - y for x, y in zip(times[a], times[b])]
    rng = random.Random(0)
    meds = sorted(statistics.median(rng.choices(d, k=len(d))) for _ in range(1000))
    return statistics.median(d), meds[25], meds[974]

print(f"== {rounds} rounds of `flakebox run {' '.join(run_args) + ' ' if run_args else ''}-- /bin/true`, 4 variants interleaved (microseconds)")
print("| variant  | median  |   p25   |   p75   |")
print("|----------|---------|---------|---------|")
for name, t in times.items():
    q = statistics.quantiles(t, n=4)
    print(f"| {name:8} | {us(statistics.median(t))} | {us(q[0])} | {us(q[2])} |")
print()
for label, a, b in [("minimal /dev", "full", "no-dev"), ("capability drop", "full", "no-caps"),
                    ("both (full - neither)", "full", "neither")]:
    m, lo, hi = cost(a, b)
    print(f"{label:22} costs {us(m)} us per run (95% interval {us(lo).strip()} to {us(hi).strip()})")
m, lo, hi = cost("full", "neither")
print(f"goal: at most 100 us per run: {'met' if hi <= 100e-6 else 'met by the median' if m <= 100e-6 else 'NOT met'}")
EOF

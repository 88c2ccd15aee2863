#!/usr/bin/env bash
# Benchmark: the own cost of the hardening steps of `flakebox run` as root,
# measured inside the sandbox's set-up (FLAKEBOX_BENCH_STEP_TIMES, see
# crates/sandbox/src/step_times.rs) rather than as a difference of whole runs,
# which is lost in their noise:
#   caps_prepare  PID 1 reads its capabilities and computes the drop
#   caps_apply    the drop, in the command's process before exec
#   dev_minimal   building the minimal /dev (root)
#   dev_devpts    the part of dev_minimal that mounts a new devpts instance
#   dev_host      binding the host's /dev, what rootless does instead
#   proc_guards   /proc's read-only rebinds and masks (root)
# Goal (issue 15): capabilities + minimal /dev at most 0.1 ms per run. What
# they add to a whole run, teardown included: bench/hardening.sh.
#
#   bench/steps.sh                  # 300 runs as root, then as nobody
#   RUNS=1000 bench/steps.sh
#   FB=/path/to/flakebox bench/steps.sh   # a binary already built (bench/run.sh)
#   RUN_ARGS="--share rand" bench/steps.sh  # options for each `flakebox run`
#       (with the seed isolated, the default, the kept capabilities are
#       also raised into the ambient set: see crates/sandbox/src/capabilities.rs)
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-300}
NOBODY=${NOBODY:-1}
read -ra run_args <<< "${RUN_ARGS:-}"
[[ $(id -u) == 0 ]] || { echo "run bench/steps.sh as root" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench/steps.sh needs python3" >&2; exit 2; }

WORK=$(mktemp -d /tmp/flakebox-bench-steps.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"
if [[ -z ${FB:-} ]]; then
    cargo build --release -p flakebox
    . bench/lib.sh
    install -m 755 "$(release_dir)/flakebox" "$WORK/flakebox"
    FB=$WORK/flakebox
fi

users=(root)
if ((NOBODY)) && command -v setpriv >/dev/null; then users+=(nobody); fi
for who in "${users[@]}"; do
    log=$WORK/steps-$who.log
    : > "$log"
    chmod 666 "$log"
    prefix=()
    [[ $who == nobody ]] && prefix=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
    for ((i = 0; i < RUNS; i++)); do
        (cd / && FLAKEBOX_BENCH_STEP_TIMES=$log "${prefix[@]}" "$FB" run "${run_args[@]}" -- /bin/true)
    done
done

python3 - "$WORK" "$RUNS" "${RUN_ARGS:-}" "${users[@]}" <<'EOF'
import collections, statistics, sys
work, runs, run_args, users = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
run_args = run_args + " " if run_args else ""
print(f"== own cost of set-up steps, {runs} runs of `flakebox run {run_args}-- /bin/true` each (microseconds)")
for who in users:
    steps = collections.defaultdict(list)
    for line in open(f"{work}/steps-{who}.log"):
        tag, ns = line.split()
        steps[tag].append(int(ns) / 1000)
    print(f"\nas {who}:")
    print("| step         | runs | median |  p90   |  max   |")
    print("|--------------|------|--------|--------|--------|")
    for tag in ("caps_prepare", "caps_apply", "dev_minimal", "dev_devpts", "dev_host", "proc_guards"):
        v = sorted(steps.get(tag, []))
        if not v:
            continue
        p90 = v[min(len(v) - 1, int(len(v) * 0.9))]
        print(f"| {tag:<12} | {len(v):>4} | {statistics.median(v):6.1f} | {p90:6.1f} | {v[-1]:6.1f} |")
    if who == "root" and all(steps.get(t) for t in ("caps_prepare", "caps_apply", "dev_minimal")):
        per_run = sorted(a + b + c for a, b, c in zip(steps["caps_prepare"], steps["caps_apply"], steps["dev_minimal"]))
        p90 = per_run[min(len(per_run) - 1, int(len(per_run) * 0.9))]
        print(f"capabilities + minimal /dev per run: median {statistics.median(per_run):.1f} us, "
              f"p90 {p90:.1f} us (goal: at most 100 us)")
EOF

#!/usr/bin/env bash
# Benchmark: `flakebox run -- /bin/true` against bubblewrap with the same
# namespaces, then 200 sequential runs in chunks of 50 (does network-namespace
# teardown accumulate cost?). Run as root; the comparison is repeated as nobody
# when setpriv is available. Results go to $OUT (default: a new temp dir).
#
#   bench/run.sh                 # everything
#   RUNS=500 bench/run.sh        # more runs per command (default 300, minimum 50)
#
# Commands run from / (a CI job's checkout is not under /tmp either; a
# working directory under /tmp costs flakebox one more overlay, ~0.1 ms).
#   NOBODY=0 bench/run.sh        # skip the unprivileged pass
# Last, bench/steps.sh measures the capability drop and the minimal /dev
# inside the set-up (their own cost, which whole runs cannot show apart).
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-300}
WARMUP=${WARMUP:-5}
NOBODY=${NOBODY:-1}
((RUNS >= 50)) || { echo "RUNS must be at least 50" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "run bench/run.sh as root" >&2; exit 2; }

missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
    apt-get install -y "${missing[@]}" || { apt-get update && apt-get install -y "${missing[@]}"; }
fi

cargo build --release -p flakebox

# A world-readable copy of the binary and a working directory nobody may use.
WORK=$(mktemp -d /tmp/flakebox-bench.XXXXXX)
chmod 755 "$WORK"
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
chmod 755 "$OUT"
. bench/lib.sh
install -m 755 "$(release_dir)/flakebox" "$WORK/flakebox"
FB=$WORK/flakebox
BWRAP="bwrap --unshare-net --unshare-pid --unshare-uts --unshare-ipc --die-with-parent --dev-bind / / --tmpfs /tmp --proc /proc /bin/true"

echo "== machine"
echo "kernel $(uname -r), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "flakebox $($FB --version | awk '{print $2}'), $(bwrap --version), $(hyperfine --version)"
echo

# compare NAME [PREFIX...]: one hyperfine run of the three commands, as the
# user PREFIX switches to (none: root).
compare() {
    local name=$1
    shift
    local pre=""
    (($#)) && pre="$* "
    echo "== flakebox run vs bubblewrap ($name)"
    (cd / && hyperfine -N --warmup "$WARMUP" --runs "$RUNS" \
        --export-markdown "$OUT/compare-$name.md" --export-json "$OUT/compare-$name.json" \
        -n "flakebox run -- /bin/true" "${pre}$FB run -- /bin/true" \
        -n "flakebox run --share time -- /bin/true" "${pre}$FB run --share time -- /bin/true" \
        -n "bwrap (same namespaces) /bin/true" "${pre}$BWRAP")
    echo
}

compare root
if [[ $NOBODY == 1 ]] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
    NOGROUP=$(id -gn nobody)
    compare nobody setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups
fi

# hyperfine runs each command's runs back to back, so a neighbour's load that
# comes and goes lands on one command more than another. The same comparison
# interleaved (flakebox, bwrap, flakebox, ...) shares the drift fairly.
echo "== interleaved: flakebox run vs bwrap, alternating, $RUNS rounds (root)"
(cd / && python3 - "$RUNS" "$OUT/interleaved.json" "$FB run -- /bin/true" "$BWRAP" <<'PY'
import json, subprocess, sys, time
rounds, out, cmds = int(sys.argv[1]), sys.argv[2], [c.split() for c in sys.argv[3:]]
times = [[] for _ in cmds]
for _ in range(5):
    for c in cmds:
        subprocess.run(c)
for _ in range(rounds):
    for i, c in enumerate(cmds):
        t = time.perf_counter()
        subprocess.run(c)
        times[i].append(time.perf_counter() - t)
json.dump({"commands": sys.argv[3:], "times": times}, open(out, "w"))
PY
)

echo "== 200 sequential runs of flakebox run -- /bin/true (root), in chunks of 50"
for chunk in 1 2 3 4; do
    (cd / && hyperfine -N --warmup 0 --runs 50 --style none \
        --export-json "$OUT/sequential-$chunk.json" "$FB run -- /bin/true" >/dev/null)
done

python3 - "$OUT" <<'EOF'
import json, os, statistics, sys
out = sys.argv[1]
ms = lambda s: f"{s * 1000:7.2f}"
print()
print("== figures (ms per run)")
for who in ("root", "nobody"):
    p = os.path.join(out, f"compare-{who}.json")
    if not os.path.exists(p):
        continue
    res = json.load(open(p))["results"]
    bw = statistics.median(res[-1]["times"])
    print(f"\nas {who}:")
    print(f"| {'command':<40} | median  |  mean   |   min   |   max   | median / bwrap |")
    print(f"|{'-' * 42}|---------|---------|---------|---------|----------------|")
    for r in res:
        med = statistics.median(r["times"])
        print(f"| {r['command']:<40} | {ms(med)} | {ms(r['mean'])} | "
              f"{ms(r['min'])} | {ms(r['max'])} | {med / bw:13.2f}x |")
inter = json.load(open(os.path.join(out, "interleaved.json")))
fb_t, bw_t = (statistics.median(t) for t in inter["times"])
print(f"\ninterleaved, root ({len(inter['times'][0])} rounds, each command started by python), median ms:")
print(f"flakebox run -- /bin/true {ms(fb_t)}, bwrap {ms(bw_t)}: {fb_t / bw_t:.2f}x")
print("\nsequential runs of flakebox run -- /bin/true (root):")
print("| runs      | median  |  mean   |   max   |")
print("|-----------|---------|---------|---------|")
for chunk in range(1, 5):
    r = json.load(open(os.path.join(out, f"sequential-{chunk}.json")))["results"][0]
    lo, hi = (chunk - 1) * 50 + 1, chunk * 50
    print(f"| {lo:>3}..{hi:<4} | {ms(statistics.median(r['times']))} | {ms(r['mean'])} | {ms(r['max'])} |")
print(f"\nhyperfine exports: {out}")
EOF
echo
echo "== the hardening steps' own cost (bench/steps.sh)"
FB=$FB NOBODY=$NOBODY RUNS=$RUNS bench/steps.sh

#!/usr/bin/env bash
# The clockwatch path (static, musl and Go programs: vDSO hidden, REALTIME reads
# answered by a seccomp user-notification supervisor) against the vDSO and the
# shim: ns per frozen CLOCK_REALTIME read from static C, ns per Go time.Now(),
# the cost left on MONOTONIC reads (now system calls), and a timer-heavy Go
# workload's wall time. Medians of 5 rounds.
#
# Needs gcc and go. Usage: bench/goclock.sh [reads-per-round]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
n=${1:-20000}
cd "$root"
. bench/lib.sh
rel=$(release_dir)

cargo build --release -q -p flakebox-clockwatch --bin clockwatch-run
run="$rel/clockwatch-run"
shim=$(built_shim goclock.sh)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -Wall -Werror -static -o "$work/reads-static" "$here/goclock_reads.c"
gcc -O2 -Wall -Werror -o "$work/reads-dyn" "$here/goclock_reads.c"
GOCACHE="$work/gocache" GO111MODULE=off CGO_ENABLED=0 go build -o "$work/reads-go" "$here/goclock_reads.go"

frozen=(FLAKEBOX_TIME_MODE=frozen FLAKEBOX_TIME_SEC=1709251198 FLAKEBOX_TIME_NSEC=0)
spec=2024-02-29T23:59:58Z

# median KEY CMD...: the median over 5 rounds of the value printed after KEY.
median() {
	local key=$1; shift
	for _ in 1 2 3 4 5; do "$@" | sed -n "s/^$key //p"; done | sort -g | sed -n 3p
}

printf '%-44s %12s\n' "case" "value"
row() { printf '%-44s %12s\n' "$1" "$2"; }
row "C REALTIME read, vDSO (ns)"            "$(median realtime_ns_per_read "$work/reads-static" "$n")"
row "C REALTIME read, shim frozen (ns)"     "$(median realtime_ns_per_read env "${frozen[@]}" LD_PRELOAD="$shim" "$work/reads-dyn" "$n")"
row "C REALTIME read, clockwatch frozen (ns)" "$(median realtime_ns_per_read "$run" --time "$spec" -- "$work/reads-static" "$n")"
row "C MONOTONIC read, vDSO (ns)"           "$(median monotonic_ns_per_read "$work/reads-static" "$n")"
row "C MONOTONIC read, clockwatch (ns)"     "$(median monotonic_ns_per_read "$run" --time "$spec" -- "$work/reads-static" "$n")"
row "Go time.Now(), vDSO (ns)"              "$(median now_ns_per_call "$work/reads-go" "$n")"
row "Go time.Now(), clockwatch frozen (ns)" "$(median now_ns_per_call "$run" --time "$spec" -- "$work/reads-go" "$n")"
row "Go time.Since (monotonic), vDSO (ns)"  "$(median since_ns_per_call "$work/reads-go" "$n")"
row "Go time.Since, clockwatch (ns)"        "$(median since_ns_per_call "$run" --time "$spec" -- "$work/reads-go" "$n")"
row "Go timer workload, vDSO (ms)"          "$(median timer_workload_ms "$work/reads-go" "$n")"
row "Go timer workload, clockwatch (ms)"    "$(median timer_workload_ms "$run" --time "$spec" -- "$work/reads-go" "$n")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

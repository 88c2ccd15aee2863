#!/usr/bin/env bash
# The clockwatch paths for static, musl and Go programs against the vDSO and the
# shim: "redirected" (the default on x86_64: the vDSO's wall-clock functions
# point at an injected stub that answers in user space) and "hidden" (the
# fallback: no vDSO, REALTIME reads answered by the seccomp user-notification
# supervisor; with and without SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP). Reports ns
# per frozen CLOCK_REALTIME read from static C, ns per Go time.Now(), the cost
# on MONOTONIC reads, and a timer-heavy Go workload's wall time. Medians of 5
# rounds.
#
# Needs gcc and go. Usage: bench/goclock.sh [reads-per-round-on-system-call-paths [reads-per-round-in-user-space]]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
n=${1:-20000}
fast=${2:-2000000}
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

printf '%-50s %12s\n' "case" "value"
row() { printf '%-50s %12s\n' "$1" "$2"; }
hide=("$run" --vdso hide --time "$spec" --)
nosync=("$run" --vdso hide --no-sync-wake-up --time "$spec" --)
redir=("$run" --time "$spec" --)
row "C REALTIME read, vDSO (ns)"                      "$(median realtime_ns_per_read "$work/reads-static" "$fast")"
row "C REALTIME read, shim frozen (ns)"               "$(median realtime_ns_per_read env "${frozen[@]}" LD_PRELOAD="$shim" "$work/reads-dyn" "$fast")"
row "C REALTIME read, redirected frozen (ns)"         "$(median realtime_ns_per_read "${redir[@]}" "$work/reads-static" "$fast")"
row "C REALTIME read, redirected ticking (ns)"        "$(median realtime_ns_per_read "$run" --time "$spec~tick" -- "$work/reads-static" "$fast")"
row "C REALTIME read, redirected step (ns)"           "$(median realtime_ns_per_read "$run" --time "$spec~step=1us" -- "$work/reads-static" "$n")"
row "C REALTIME read, hidden frozen (ns)"             "$(median realtime_ns_per_read "${hide[@]}" "$work/reads-static" "$n")"
row "C REALTIME read, hidden, no SYNC_WAKE_UP (ns)"   "$(median realtime_ns_per_read "${nosync[@]}" "$work/reads-static" "$n")"
row "C MONOTONIC read, vDSO (ns)"                     "$(median monotonic_ns_per_read "$work/reads-static" "$fast")"
row "C MONOTONIC read, redirected (ns)"               "$(median monotonic_ns_per_read "${redir[@]}" "$work/reads-static" "$fast")"
row "C MONOTONIC read, hidden (ns)"                   "$(median monotonic_ns_per_read "${hide[@]}" "$work/reads-static" "$n")"
row "Go time.Now(), vDSO (ns)"                        "$(median now_ns_per_call "$work/reads-go" "$fast")"
row "Go time.Now(), redirected frozen (ns)"           "$(median now_ns_per_call "${redir[@]}" "$work/reads-go" "$fast")"
row "Go time.Now(), hidden frozen (ns)"               "$(median now_ns_per_call "${hide[@]}" "$work/reads-go" "$n")"
row "Go time.Now(), hidden, no SYNC_WAKE_UP (ns)"     "$(median now_ns_per_call "${nosync[@]}" "$work/reads-go" "$n")"
row "Go time.Since (monotonic), vDSO (ns)"            "$(median since_ns_per_call "$work/reads-go" "$fast")"
row "Go time.Since, redirected (ns)"                  "$(median since_ns_per_call "${redir[@]}" "$work/reads-go" "$fast")"
row "Go time.Since, hidden (ns)"                      "$(median since_ns_per_call "${hide[@]}" "$work/reads-go" "$n")"
# The timer workload, interleaved so load from neighbours lands on all three alike.
for _ in 1 2 3 4 5; do
	echo "vdso $("$work/reads-go" 1 | sed -n 's/^timer_workload_ms //p')"
	echo "redir $("${redir[@]}" "$work/reads-go" 1 | sed -n 's/^timer_workload_ms //p')"
	echo "hide $("${hide[@]}" "$work/reads-go" 1 | sed -n 's/^timer_workload_ms //p')"
done >"$work/timers"
tmed() { awk -v k="$1" '$1 == k { print $2 }' "$work/timers" | sort -g | sed -n 3p; }
v=$(tmed vdso) r=$(tmed redir) h=$(tmed hide)
row "Go timer workload, vDSO (ms)"                    "$v"
row "Go timer workload, redirected (ms)"              "$r"
row "Go timer workload, hidden (ms)"                  "$h"
row "  slowdown redirected / vDSO (goal <= 1.10x)"    "$(awk -v a="$r" -v b="$v" 'BEGIN { printf "%.2fx", a / b }')"
row "  slowdown hidden / vDSO"                        "$(awk -v a="$h" -v b="$v" 'BEGIN { printf "%.2fx", a / b }')"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

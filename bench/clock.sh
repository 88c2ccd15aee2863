#!/usr/bin/env bash
# Cost of wall-clock reads (ns per call) under: no preload, the flakebox shim
# (frozen, ticking) and Debian's libfaketime (DONT_FAKE_MONOTONIC=1), in one run,
# then strace -c to show the shim makes no system call per read. The same
# program linked statically (beyond the shim) runs bare (vDSO), under the
# clockwatch supervisor with its vDSO redirected to the stub (frozen, ticking),
# and with its vDSO hidden (every read a notified system call: fewer reads).
#
# Needs gcc, cargo, strace and libfaketime (apt-get install -y faketime libfaketime).
# Usage: bench/clock.sh [reads-per-round]   (CARGO_TARGET_DIR is honoured)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
n=${1:-2000000}
cd "$root"
. bench/lib.sh

shim=$(built_shim clock.sh)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -Wall -Wextra -o "$work/clock_bench" "$here/clock_bench.c"
gcc -O2 -Wall -Wextra -static -o "$work/clock_bench_static" "$here/clock_bench.c"
cargo build --release -q -p flakebox-clockwatch --bin clockwatch-run
cw="$(release_dir)/clockwatch-run"
spec=2024-02-29T23:59:58Z

faketime_so=""
for f in /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 /usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
	[ -e "$f" ] && { faketime_so=$f; break; }
done

frozen=(FLAKEBOX_TIME_MODE=frozen FLAKEBOX_TIME_SEC=1709251198 FLAKEBOX_TIME_NSEC=0 LD_PRELOAD="$shim")
ticking=(FLAKEBOX_TIME_MODE=ticking FLAKEBOX_TIME_SEC=1709251198 FLAKEBOX_TIME_NSEC=0 LD_PRELOAD="$shim")

declare -A res
runcmd() { # name cmd...: keeps the best figure seen for each function
	local name=$1; shift
	while read -r fn ns; do
		local old=${res[$name,$fn]:-}
		if [ -z "$old" ] || awk -v a="$ns" -v b="$old" 'BEGIN { exit !(a < b) }'; then
			res[$name,$fn]=$ns
		fi
	done < <("$@")
}
run() { # name env...: the dynamically linked program
	local name=$1; shift
	runcmd "$name" env "$@" "$work/clock_bench" "$n"
}
static() { # name clockwatch-flags...: the static program; no flags: bare
	local name=$1; shift
	if [ "$name" = "static, vDSO" ]; then
		runcmd "$name" "$work/clock_bench_static" "$n"
	elif [ "$1" = hide ]; then
		# ~10 us a read: a hundredth of the reads.
		runcmd "$name" "$cw" --vdso hide --time "$spec" -- "$work/clock_bench_static" $((n / 100))
	else
		runcmd "$name" "$cw" --time "$spec$1" -- "$work/clock_bench_static" "$n"
	fi
}
configs=("no preload" "flakebox frozen" "flakebox ticking")
[ -n "$faketime_so" ] && configs+=("libfaketime frozen" "libfaketime ticking")
[ -n "$faketime_so" ] || echo "(libfaketime not installed: apt-get install -y faketime libfaketime)"
# Configurations interleaved, three passes: a shared machine's noise hits all alike.
for pass in 1 2 3; do
	run "no preload"
	run "flakebox frozen" "${frozen[@]}"
	run "flakebox ticking" "${ticking[@]}"
	if [ -n "$faketime_so" ]; then
		run "libfaketime frozen" LD_PRELOAD="$faketime_so" DONT_FAKE_MONOTONIC=1 FAKETIME="2024-02-29 23:59:58"
		run "libfaketime ticking" LD_PRELOAD="$faketime_so" DONT_FAKE_MONOTONIC=1 FAKETIME="@2024-02-29 23:59:58"
	fi
	static "static, vDSO"
	static "static, redirected frozen" ""
	static "static, redirected ticking" "~tick"
	static "static, vDSO hidden" hide
done
configs+=("static, vDSO" "static, redirected frozen" "static, redirected ticking" "static, vDSO hidden")

echo "ns per call, best of 3 passes x 7 rounds of $n reads ($(uname -m), $(nproc) cpus, clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo '?'))"
printf '%-28s %14s %14s %14s\n' "" "clock_gettime" "gettimeofday" "time"
for c in "${configs[@]}"; do
	printf '%-28s %14s %14s %14s\n' "$c" "${res[$c,clock_gettime]}" "${res[$c,gettimeofday]}" "${res[$c,time]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
echo
echo "clock_gettime(CLOCK_REALTIME) ratios:"
echo "  flakebox frozen / vDSO:         $(ratio "${res["flakebox frozen",clock_gettime]}" "${res["no preload",clock_gettime]}")   (goal <= 0.3x)"
echo "  flakebox ticking / vDSO:        $(ratio "${res["flakebox ticking",clock_gettime]}" "${res["no preload",clock_gettime]}")   (goal <= 1.2x)"
echo "  static redirected frozen / vDSO: $(ratio "${res["static, redirected frozen",clock_gettime]}" "${res["static, vDSO",clock_gettime]}")   (goal <= 2x)"
echo "  static redirected ticking / vDSO: $(ratio "${res["static, redirected ticking",clock_gettime]}" "${res["static, vDSO",clock_gettime]}")"
if [ -n "$faketime_so" ]; then
	echo "  flakebox frozen / libfaketime:  $(ratio "${res["flakebox frozen",clock_gettime]}" "${res["libfaketime frozen",clock_gettime]}")   (goal <= 0.2x)"
	echo "  flakebox ticking / libfaketime: $(ratio "${res["flakebox ticking",clock_gettime]}" "${res["libfaketime ticking",clock_gettime]}")"
fi

if command -v strace >/dev/null; then
	echo
	echo "system calls for a whole run (strace -c -f): 1000 vs 100000 reads per round x 7 rounds x 3 functions"
	for c in frozen ticking; do
		declare -n envs=$c
		for reads in 1000 100000; do
			env "${envs[@]}" strace -f -c -o "$work/strace.$c.$reads" "$work/clock_bench" "$reads" >/dev/null
			calls=$(awk '$NF == "total" { print $4 }' "$work/strace.$c.$reads")
			printf '  flakebox %-8s %7d reads/round: %s system calls\n' "$c" "$reads" "$calls"
		done
	done
	echo "  (equal counts: no system call per read)"
fi

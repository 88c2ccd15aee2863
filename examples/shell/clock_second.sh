#!/bin/sh
# Expected: `flakebox diagnose -- examples/shell/clock_second.sh`
#   -> environment, time: fixes
# Models: a script that names its output after the current second and later
# recomputes the name to find it again. With 0.5 s of work in between the
# second ticks over in about half the runs at real time; with the wall clock
# frozen it never does. (`sleep` itself uses the monotonic clock.)
start=$(date +%s)
sleep 0.5   # the work
end=$(date +%s)
if [ "$start" != "$end" ]; then
    echo "report-$start.txt not found: looked for report-$end.txt" >&2
    exit 1
fi
echo ok

#!/bin/sh
# Expected: `flakebox diagnose -- examples/shell/random.sh`
#   -> intrinsic (fails ~40% of runs with everything isolated)
# Models: a test that picks random input and fails on some of it.
# The randomness comes from /dev/urandom on purpose: bash's $RANDOM is seeded
# from the time of day and the PID, and under flakebox (frozen clock, new PID
# namespace, so the same PID every run) it would repeat the same value every
# run - a "random" test that a frozen clock makes deterministic.
byte=$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')
if [ "$byte" -lt 102 ]; then   # 102/256 = 40%
    echo "random input $byte hit the bug" >&2
    exit 1
fi
echo ok

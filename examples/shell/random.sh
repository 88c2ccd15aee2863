#!/bin/sh
# Expected: `flakebox diagnose -- examples/shell/random.sh`
#   -> environment, rand: fixes or stabilizes (one entropy seed for every
#      rand-isolated run), with a failing seed that replays
# Models: a test that picks random input and fails on some of it.
# The randomness comes from /dev/urandom on purpose: bash's $RANDOM is seeded
# from the time of day, the PID and a stack address, so it follows the seed
# only when time is isolated too (the all condition), not under rand alone.
byte=$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')
if [ "$byte" -lt 102 ]; then   # 102/256 = 40%
    echo "random input $byte hit the bug" >&2
    exit 1
fi
echo ok

#!/bin/sh
# Expected: `flakebox diagnose -- examples/shell/stable_fail.sh`
#   -> stable (fails under every condition, exit 1)
# Models: a deterministic bug: the same failure everywhere.
result=$(expr 7 / 2)
[ "$result" = "3.5" ] || { echo "expected 3.5, got $result" >&2; exit 1; }

#!/bin/sh
# Expected: `flakebox diagnose -- examples/shell/stable.sh`
#   -> stable (passes under every condition)
# Models: a hermetic, deterministic check.
set -e
[ "$(printf 'b\na\nc\n' | sort | tr -d '\n')" = "abc" ]
echo ok

#!/bin/sh
# Expected: `flakebox diagnose -- examples/shell/tmp_pollution.sh`
#   -> environment, fs: fixes
# Models: a build/test script that makes a scratch directory at a fixed path in
# /tmp with plain `mkdir` and never removes it. The first run on a machine
# passes; every later one fails ("File exists") until someone runs
#   rm -rf /tmp/flakebox-example-shell-scratch
# With a fresh /tmp per run (fs isolated) it always passes.
set -e
scratch=/tmp/flakebox-example-shell-scratch
mkdir "$scratch"
echo "artifact" > "$scratch/out.txt"
grep -q artifact "$scratch/out.txt"
echo ok

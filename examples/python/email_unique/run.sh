#!/bin/sh
# Runs this example suite once. The JUnit XML goes to $JUNIT, by default
# /tmp/junit-email_unique.xml: outside the source tree, so the report itself is not a
# write in the working directory. Under `flakebox diagnose --junit PATH` give the
# same PATH (flakebox carries it out of the sandbox itself).
# PYTHONDONTWRITEBYTECODE: no __pycache__ next to the tests.
cd "$(dirname "$0")" || exit 2
export PYTHONDONTWRITEBYTECODE=1
exec python3 -m pytest -q -p no:cacheprovider --junitxml="${JUNIT:-/tmp/junit-email_unique.xml}" "$@"

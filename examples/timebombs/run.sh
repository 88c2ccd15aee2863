#!/bin/sh
# Runs the time-bomb suite once; `flakebox timetravel` runs it at every hazard
# instant and zone. The JUnit XML goes to $JUNIT, by default
# /tmp/junit-timebombs.xml: outside the source tree, so the report itself is
# not a write in the working directory (a relative $JUNIT is relative to this
# folder). Give the same path to `flakebox timetravel --junit PATH`.
# PYTHONDONTWRITEBYTECODE: no __pycache__ next to the tests.
cd "$(dirname "$0")" || exit 2
export PYTHONDONTWRITEBYTECODE=1
exec "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider --junitxml="${JUNIT:-/tmp/junit-timebombs.xml}" "$@"

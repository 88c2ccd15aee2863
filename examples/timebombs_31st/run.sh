#!/bin/sh
# Runs the suite once; `flakebox timetravel` runs it at every hazard instant
# and zone. JUnit XML goes to $JUNIT (default below), outside the source tree.
# PYTHONDONTWRITEBYTECODE: no __pycache__ next to the tests.
cd "$(dirname "$0")" || exit 2
export PYTHONDONTWRITEBYTECODE=1
exec "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider --junitxml="${JUNIT:-/tmp/junit-timebombs_31st.xml}" "$@"

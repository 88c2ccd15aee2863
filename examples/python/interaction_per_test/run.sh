#!/bin/sh
# Runs this example suite once (see test_interaction_per_test.py).
# PYTHONDONTWRITEBYTECODE: no __pycache__ next to the tests.
cd "$(dirname "$0")" || exit 2
export PYTHONDONTWRITEBYTECODE=1
exec python3 -m pytest -q -p no:cacheprovider "$@"

#!/usr/bin/env bash
# Regenerates the report screenshots the README shows: a diagnosis of the
# pytest runner example and a timetravel pass over examples/timebombs, each
# written with --html, then photographed by headless Chromium (Debian's
# chromium package). Run from anywhere:
#   examples/reports/screenshots.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cargo build --release -q -p flakebox
. bench/lib.sh
F=$(release_dir)/flakebox
command -v chromium >/dev/null || { echo "screenshots.sh: needs chromium (apt-get install chromium)" >&2; exit 2; }

work=$(mktemp -d)
# The marker test's state lives outside /tmp (fs isolation gives a fresh one).
state=$(mktemp -d "$root/target/screenshots-state.XXXXXX")
trap 'rm -rf "$work" "$state"' EXIT

(cd examples/runners/pytest &&
  FLAKEBOX_EXAMPLE_STATE=$state "$F" diagnose --factors fs,time --seed 7 --html "$work/diagnose.html" \
    -- python3 -m pytest >/dev/null) || true
(cd examples/timebombs &&
  JUNIT=$work/junit.xml "$F" timetravel --now 2026-11-22T12:00:00Z --zones UTC,Pacific/Kiritimati \
    --junit "$work/junit.xml" --html "$work/timetravel.html" -- ./run.sh >/dev/null) || true

shoot() {
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,"$2" \
    --screenshot="$here/$1.png" "file://$work/$1.html" 2>/dev/null
  echo "wrote examples/reports/$1.png"
}
shoot diagnose 1500
shoot timetravel 1300

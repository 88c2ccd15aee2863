"""Models three tests of one suite, each failing for its own reasons:

- test_report_is_from_this_run: a report cache in $HOME whose entry is
  trusted only if it was written at this very instant; fails when an entry
  an earlier run left is there (a leftover file) AND the clock has moved
  since (a moving clock). Either alone is harmless.
- test_export_is_new: fails whenever the export an earlier run left in
  $HOME is there (the leftover file alone).
- test_request_time_is_constant: fails whenever the clock moves during a
  request (the moving clock alone).

Expected: `flakebox diagnose --factors net,fs,time -- python3 -m pytest ...`
-> environment, per test: fs and time fix the first, and its interaction:
the failure needs fs and time together, fs's evidence points at the cause,
time only masks it; fs fixes the second and time the third, each on its
own, with no interaction (two tests each fixed by another factor are two
findings). Clean up after plain runs with:
    rm -rf ~/.cache/flakebox-example-interaction-per-test
"""
import time
from pathlib import Path

CACHE = Path.home() / ".cache" / "flakebox-example-interaction-per-test"


def cached_report(now: float) -> str:
    entry = CACHE / "report.csv"
    if not entry.exists():
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text(f"report,{now!r}\n")
    return entry.read_text()


def test_report_is_from_this_run():
    now = time.time()
    stamp = float(cached_report(now).strip().split(",")[1])
    # Bug: an entry an earlier run left is "from this run" only if the
    # clock has not moved since.
    assert stamp == now


def test_export_is_new():
    export = CACHE / "export.csv"
    existed = export.exists()
    export.parent.mkdir(parents=True, exist_ok=True)
    export.write_text("id,total\n1,10\n")
    # Bug: assumes a clean home.
    assert not existed


def test_request_time_is_constant():
    started = time.time()
    time.sleep(0.01)
    # Bug: "the request's time" read twice.
    assert time.time() == started

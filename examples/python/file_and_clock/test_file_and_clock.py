"""Models: a report cache in $HOME whose entry is trusted only if it was
written at this very instant; the test fails when an entry left by an
earlier run is there (a leftover file) AND the clock has moved since (a
moving clock). Either alone is harmless: a fresh home has no entry, and a
frozen clock makes the stored instant equal to now.

Expected: `flakebox diagnose` -> environment, fs: fixes and time: fixes,
and the interaction: the failure needs fs and time together; fs's evidence
points at the cause (the file left behind), time only masks it. Clean up
after plain runs with:
    rm -rf ~/.cache/flakebox-example-file-and-clock
"""
import time
from pathlib import Path

CACHE = Path.home() / ".cache" / "flakebox-example-file-and-clock" / "report.csv"


def cached_report(now: float) -> str:
    if not CACHE.exists():
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_text(f"report,{now!r}\n")
    return CACHE.read_text()


def test_report_is_from_this_run():
    now = time.time()
    stamp = float(cached_report(now).strip().split(",")[1])
    # Bug: an entry an earlier run left is "from this run" only if the
    # clock has not moved since.
    assert stamp == now

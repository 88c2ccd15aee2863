"""Models: a timestamp truncated to the second, computed twice around slow work.

The test builds its expected report header *before* calling the code under
test, which stamps its own `generated_at` after ~0.5 s of work (I/O, a query).
Both are truncated to the second, so they match unless the wall clock ticks
into the next second in between: with 0.5 s between the reads that happens in
about half the runs, at real time.

Expected: `flakebox diagnose` -> environment, time: fixes (the wall clock is
frozen; the sleep uses the monotonic clock, which keeps running).
"""
import time
from datetime import datetime, timezone


def stamp() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def build_report(rows):
    time.sleep(0.5)  # stands in for the slow part: queries, rendering, I/O
    return {"generated_at": stamp(), "rows": len(rows)}


def test_report_header():
    expected = {"generated_at": stamp(), "rows": 3}
    assert build_report(["a", "b", "c"]) == expected

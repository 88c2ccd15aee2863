"""Models: a cache test that waits for an entry to expire by polling the wall
clock (seen in a real project's cache tests): "sleep a little until time.time()
has moved past the entry's expiry".

test_entry_expires: stores an entry stamped with time.time() and a 0.2 s time to
live, then polls until the wall clock says it has expired. With a frozen clock
the wall clock never moves, so the loop never ends.

Expected: `flakebox diagnose --factors time --runs 2` -> every time-isolated run
is stopped at the per-run limit derived from the first baseline run (no
--timeout needed) and counted as timed out, with the hint "clock frozen — a wait
on the wall clock never ends; try `--time now~tick`". Under a ticking clock
(`flakebox run --time now~tick`) it passes.
"""
import time

TTL = 0.2


def expired(stamp: float) -> bool:
    return time.time() - stamp >= TTL


def test_entry_expires():
    stamp = time.time()
    while not expired(stamp):
        time.sleep(0.01)
    assert expired(stamp)

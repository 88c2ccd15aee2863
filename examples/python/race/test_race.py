"""Models: a lost update between a background flusher thread and the caller.

A metrics batcher sends its pending events every 10 ms (ticks aligned to the
interval, as many reporters do). Its flush is an unsynchronised
read-modify-write with I/O in between:

    batch = list(self.pending)   # read
    send(batch)                  # ~4 ms of I/O
    self.pending = []            # write: drops whatever arrived meanwhile

An event recorded while a send is in flight is silently lost. The test records
one event at an arbitrary moment and checks it was sent; it is lost whenever
the record lands inside a 4 ms send window of the 10 ms period: ~40% of runs,
decided by thread scheduling and the monotonic clock, which flakebox does not
freeze. (Faster or slower machines barely change the rate: it is the ratio of
the two intervals.)

Expected: `flakebox diagnose` -> intrinsic (flaky with everything isolated).
"""
import threading
import time

PERIOD = 0.010  # flush interval
SEND = 0.004    # how long sending a batch takes


class Batcher:
    def __init__(self):
        self.pending = []
        self.sent = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def record(self, event):
        self.pending.append(event)

    def _run(self):
        while not self._stop.is_set():
            now = time.monotonic()
            time.sleep(PERIOD - now % PERIOD)  # next interval boundary
            batch = list(self.pending)
            time.sleep(SEND)  # send(batch): network I/O
            self.sent.extend(batch)
            self.pending = []  # BUG: should remove only what was sent, under a lock


def test_recorded_event_is_sent():
    batcher = Batcher()
    batcher.start()
    time.sleep(0.023)  # the app handles a request...
    batcher.record("request-served")  # ...and records it
    time.sleep(3 * PERIOD)  # several flushes later
    batcher.stop()
    assert "request-served" in batcher.sent

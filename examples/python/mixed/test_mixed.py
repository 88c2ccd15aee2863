"""One suite, four tests, four causes: for per-test verdicts via JUnit.

    flakebox diagnose --factors fs,time --junit /tmp/junit-mixed.xml -- examples/python/mixed/run.sh

Expected per test (JUnit classname "test_mixed"):
  test_tmp_pollution   environment, fs: fixes   (fixed-name file left in /tmp)
  test_random          intrinsic                (fails ~40%: random input; rand with --factors ...,rand)
  test_stable          stable                   (always passes)
  test_clock           environment, time: fixes (second ticks over, ~50%)
The suite as a whole is flaky even with fs and time isolated (test_random), so
its overall verdict is intrinsic.
"""
import os
import random
import time

MARKER = "/tmp/flakebox-example-mixed.lock"


def test_tmp_pollution():
    # Models: a lock file at a fixed path in /tmp that is never removed.
    fd = os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # FileExistsError on rerun
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)


def test_random():
    # Models: random test data (seeded from os.urandom) that hits a bug 40% of the time.
    shard = random.randrange(5)
    assert shard not in (1, 3), f"shard {shard} is mishandled"


def test_stable():
    # Models: an ordinary deterministic test.
    assert sorted("flaky") == ["a", "f", "k", "l", "y"]


def test_clock():
    # Models: a cache key truncated to the second, computed twice around slow work.
    key = int(time.time())
    time.sleep(0.5)
    assert int(time.time()) == key

"""Models: a randomised test that only sometimes hits the bug.

The test feeds the code under test a random list (length 1-5) - random data
seeded from os.urandom, as Python's `random` module does by default. median()
is wrong for even lengths, so the test fails whenever the random length is 2 or
4: 40% of runs.

Expected: `flakebox diagnose` -> environment, rand (fixes or stabilizes, as
the one seed of the rand-isolated runs passes or fails), with a failing seed
whose `flakebox run --seed` line fails every time.
"""
import random


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]  # BUG: even lengths need the mean of the middle two


def test_median_is_between_min_and_max_and_balanced():
    xs = [random.randint(0, 1000) for _ in range(random.randint(1, 5))]
    m = median(xs)
    below = sum(x < m for x in xs)
    above = sum(x > m for x in xs)
    assert below == above or len(set(xs)) < len(xs), (xs, m)

"""Models: a genuine, deterministic bug - fails the same way everywhere.

Expected: `flakebox diagnose` -> stable (fails under every condition).
"""


def last_n(items, n):
    return items[-n - 1:]  # BUG: off by one


def test_last_n():
    assert last_n([1, 2, 3, 4], 2) == [3, 4]

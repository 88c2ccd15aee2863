"""A test that never reads the clock: it does not run where the other
module fails to import (pytest stops at the collection error)."""


def test_total_of_lines():
    assert sum([120, 80, 300]) == 500

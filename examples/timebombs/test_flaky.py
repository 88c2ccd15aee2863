"""A randomly flaky test: timetravel must call it flaky, not time-dependent."""
import os


def test_sampled_batch_is_large_enough():
    # Stands in for a race or an unseeded random fixture: fails in about 30 %
    # of runs (77 of the 256 byte values), whatever the clock says.
    assert os.urandom(1)[0] >= 77

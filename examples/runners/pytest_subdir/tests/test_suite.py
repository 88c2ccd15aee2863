"""The pytest example (../../pytest) with its ini file in tests/, run from the
directory above (`python3 -m pytest tests`): pytest's rootdir is not the
working directory.

- test_stable: always passes.
- test_leaves_marker: models a test that leaves state in /tmp: it passes on
  the first run and fails on every later one, because the marker file it
  creates is still there (the fs factor fixes it). The directory is
  $FLAKEBOX_EXAMPLE_STATE (the tests give it a fresh one), else /tmp.
- test_plain_fails / test_plain_passes: deterministic, so that selection and
  ordering are observable.
"""
import os

MARKER = os.path.join(os.environ.get("FLAKEBOX_EXAMPLE_STATE", "/tmp"), "flakebox-runners-pytest-subdir.marker")


def test_stable():
    assert sorted([3, 1, 2]) == [1, 2, 3]


def test_leaves_marker():
    assert not os.path.exists(MARKER), f"{MARKER} was left by an earlier run"
    with open(MARKER, "w") as f:
        f.write("left behind on purpose\n")


def test_plain_fails():
    assert 1 + 1 == 3


def test_plain_passes():
    assert "a" + "b" == "ab"

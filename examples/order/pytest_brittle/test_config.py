"""A brittle test: it passes in the suite's order only because an earlier
test wrote the file it reads; alone (or first) it fails. flakebox diagnose
--factors order should call test_reads_config brittle, with
test_writes_config its state setter and config.ini the state."""

import pathlib


def test_writes_config():
    pathlib.Path("config.ini").write_text("mode = test\n")


def test_reads_config():
    assert pathlib.Path("config.ini").read_text() == "mode = test\n"


def test_unrelated():
    assert "a" < "b"

"""A module-scoped fixture mutated by one test and read by the next."""

import pytest


@pytest.fixture(scope="module")
def settings():
    return {"debug": False}


def test_enables_debug(settings):
    settings["debug"] = True
    assert settings["debug"]


def test_debug_off_by_default(settings):
    assert settings["debug"] is False

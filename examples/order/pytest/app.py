"""The code under test: a greeting, a settings dict, a network switch."""

import os

NETWORK_ALLOWED = False


def greet():
    return "hello"


def network_allowed():
    return NETWORK_ALLOWED or os.environ.get("APP_ALLOW_NETWORK") == "1"

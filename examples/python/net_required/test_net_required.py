"""Models: a test that is not hermetic because it needs the machine to be online.

The code under test builds a callback URL from "my outward-facing IP", found
with the well-known trick of connect()ing a UDP socket towards a public
address and reading getsockname(). A UDP connect sends no packet; it only asks
the kernel for a route. With the host network (a default route) this works;
in a network namespace with only `lo` there is no route and connect() fails
with ENETUNREACH.

Expected: `flakebox diagnose` -> environment, net: breaks (passes with the
host network, fails whenever net is isolated). On a host with no default route
at all it fails everywhere (stable failure).
"""
import ipaddress
import socket

PROBE = ("198.51.100.1", 9)  # TEST-NET-2 (RFC 5737); UDP connect sends nothing


def outbound_ip() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(PROBE)
        return s.getsockname()[0]


def callback_url(port: int) -> str:
    return f"http://{outbound_ip()}:{port}/callback"


def test_callback_url_is_routable():
    url = callback_url(8080)
    host = url.split("//", 1)[1].rsplit(":", 1)[0]
    assert not ipaddress.ip_address(host).is_loopback, url

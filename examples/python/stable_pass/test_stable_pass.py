"""Models: a hermetic, deterministic test - the control.

Expected: `flakebox diagnose` -> stable (passes under every condition).
"""


def slugify(title: str) -> str:
    return "-".join(title.lower().split())


def test_slugify():
    assert slugify("Hello  Flaky World") == "hello-flaky-world"

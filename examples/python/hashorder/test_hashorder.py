"""Models: a test that depends on the iteration order of a set.

User roles are kept in a set and serialised with ",".join(roles). String
hashes are randomised per Python process (PYTHONHASHSEED, seeded from
os.urandom), so the order of {"admin", "editor"} - and the header - changes
from run to run: the test fails in about half the runs. Pinning
PYTHONHASHSEED would hide the bug; flakebox's rand isolation instead serves
os.urandom from a seed, so a failing order replays.

Expected: `flakebox diagnose` -> environment, rand (fixes or stabilizes), with
a failing seed whose `flakebox run --seed` line fails every time.
"""


def roles_header(roles: set) -> str:
    return ",".join(roles)  # BUG: should be ",".join(sorted(roles))


def test_roles_header():
    assert roles_header({"admin", "editor"}) == "admin,editor"

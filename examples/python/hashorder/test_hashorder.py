"""Models: a test that depends on the iteration order of a set.

User roles are kept in a set and serialised with ",".join(roles). String
hashes are randomised per Python process (PYTHONHASHSEED, seeded from
os.urandom), so the order of {"admin", "editor"} - and the header - changes
from run to run: the test fails in about half the runs. No environment factor
changes that (unless PYTHONHASHSEED is pinned, which hides the bug).

Expected: `flakebox diagnose` -> intrinsic.
"""


def roles_header(roles: set) -> str:
    return ",".join(roles)  # BUG: should be ",".join(sorted(roles))


def test_roles_header():
    assert roles_header({"admin", "editor"}) == "admin,editor"

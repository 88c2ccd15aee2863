"""Models: Faker-style unique e-mails that collide under a unique constraint.

A fixture creates six users whose e-mail addresses come from a tiny fake-data
generator (first.last@example.com, six first names by six last names: 36
addresses), the way factory_boy or Faker fill in test data. The users table
has a UNIQUE constraint on email, as a real schema would. Two users drawing
the same address make the insert fail with an IntegrityError: 1 - (35/36 *
34/36 * ... * 31/36) = ~36% of runs. Python's `random` is seeded from the OS
(os.urandom), so which runs fail is chance.

The database is SQLite (in memory): a real unique constraint with no server,
so every condition of a diagnosis sees the same empty database and the random
e-mails are the only input that varies. (A PostgreSQL table would need a
database in baseline too: without `--factors db` a diagnosis's baseline has
only the environment's DATABASE_URL.)

Expected: `flakebox diagnose` -> environment, rand: fixes or stabilizes (as the
entropy seed of the rand-isolated runs gives distinct e-mails or a collision),
with a seed under which it fails and the `flakebox run --seed` line that
replays the collision every time.
"""
import random
import sqlite3

FIRST = ["ada", "alan", "grace", "edsger", "barbara", "donald"]
LAST = ["lovelace", "turing", "hopper", "dijkstra", "liskov", "knuth"]


def fake_email():
    return f"{random.choice(FIRST)}.{random.choice(LAST)}@example.com"


def test_signup_creates_six_distinct_users():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)")
    emails = [fake_email() for _ in range(6)]
    with db:
        for e in emails:
            db.execute("INSERT INTO users (email) VALUES (?)", (e,))
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 6

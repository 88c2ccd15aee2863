"""Models: a test database at a fixed path in /tmp that nobody cleans up.

The test opens /tmp/flakebox-example-tmpfiles.sqlite3 and creates its schema
with a plain CREATE TABLE. The file is left behind, so the next run on the same
machine fails with "table users already exists" - the classic "passes on a
fresh CI runner, fails on my laptop / on the second job of a reused runner".

Expected: `flakebox diagnose` -> environment, fs: fixes (a fresh /tmp every
run). Plain runs: the first passes, later ones fail until the file is removed:
    rm -f /tmp/flakebox-example-tmpfiles.sqlite3
"""
import sqlite3

DB_PATH = "/tmp/flakebox-example-tmpfiles.sqlite3"


def test_create_schema_and_user():
    db = sqlite3.connect(DB_PATH)
    try:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        db.execute("INSERT INTO users (name) VALUES ('alice')")
        db.commit()
        assert db.execute("SELECT count(*) FROM users").fetchone() == (1,)
    finally:
        db.close()

"""Models: a fixture row with a fixed key inserted into a shared database.

The test talks to the database in $DATABASE_URL (through the psql CLI, so the
example needs no Python driver), creates its table if needed and inserts a
fixture row with a hard-coded id. Nothing rolls it back. Against a shared,
long-lived database (a CI service container reused between jobs, a developer's
local Postgres) the first run passes and every later one fails with
"duplicate key value violates unique constraint". Against a fresh database per
run it always passes.

Without DATABASE_URL the test FAILS (not skips) with a message saying so: a
suite that needs a database and silently skips hides that. Under `flakebox
diagnose` the verdict is the same either way:
  - DATABASE_URL set to a persistent database: baseline passes once, then
    fails; db isolated always passes            -> environment, db: fixes
  - DATABASE_URL unset: baseline always fails; db isolated always passes
                                                 -> environment, db: fixes
Note that the first case leaves a table `seen` behind in that database.
"""
import os
import shutil
import subprocess


def psql(sql: str) -> subprocess.CompletedProcess:
    url = os.environ.get("DATABASE_URL")
    assert url, "DATABASE_URL is not set: this test needs a PostgreSQL database"
    assert shutil.which("psql"), "the psql client is not installed"
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
        capture_output=True, text=True, timeout=30,
    )


def test_register_fixture_user():
    created = psql("create table if not exists seen (id int unique)")
    assert created.returncode == 0, created.stderr
    inserted = psql("insert into seen (id) values (42)")
    assert inserted.returncode == 0, inserted.stderr

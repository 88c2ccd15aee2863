"""Victims: each passes alone and fails after its polluter."""

import os
import random
import sqlite3

import app


def test_greeting():
    assert app.greet() == "hello"


def test_no_users_yet():
    db = sqlite3.connect("order-example.db")
    db.execute("CREATE TABLE IF NOT EXISTS users (name TEXT)")
    (count,) = db.execute("SELECT count(*) FROM users").fetchone()
    db.close()
    assert count == 0


def test_offline():
    assert not app.network_allowed()


def test_greeting_flaky():
    # Also intrinsically flaky: fails about one run in five even alone.
    assert random.random() >= 0.2
    assert app.greet() == "hello"


def test_stable():
    assert os.sep == "/"

"""Tests that leave state behind for later tests."""

import sqlite3

import app


def test_patches_greet():
    # A monkey-patch not undone: app.greet stays patched for later tests.
    app.greet = lambda: "patched"
    assert app.greet() == "patched"


def test_inserts_user():
    # A row left in a database file that another test counts.
    db = sqlite3.connect("order-example.db")
    db.execute("CREATE TABLE IF NOT EXISTS users (name TEXT)")
    db.execute("INSERT INTO users VALUES ('alice')")
    db.commit()
    db.close()


def test_uses_plugin():
    # Importing the plugin enables network for every later test.
    import netplugin  # noqa: F401

    assert app.network_allowed()


def test_unrelated():
    assert 1 + 1 == 2

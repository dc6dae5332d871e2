"""Look inside a store from a test, plain or encrypted.

connect(db) is sqlite3.connect(db) for a plain store. For an encrypted one
("<db>.keys" beside it; AGENT_TEST_ENCRYPT=1 makes every test store so),
which Python's sqlite3 cannot read, it returns a small stand-in with the
same execute/fetchone/fetchall/commit/close that runs each statement
through tests/tools/store_sql (the project's own encrypting VFS, the key
unwrapped with the test's key file). Errors raise sqlite3.DatabaseError,
as sqlite3 would.

Each execute() is its own process and its own transaction (autocommit):
commit() has nothing left to do.
"""

import json
import os
import sqlite3
import subprocess


def tool():
    """The store_sql binary: $AGENT_STORE_SQL (ctest sets it), else beside
    the build's tests directory."""
    t = os.environ.get("AGENT_STORE_SQL")
    if t:
        return t
    agent = os.environ.get("AGENT_BIN", "agent")
    return os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(agent))), "tests", "store_sql")


def encrypted(db):
    return os.path.exists(db + ".keys")


def key_file(db):
    """The key file the tests give an encrypted store (clitest.encrypt_args:
    store.key beside it), else $AGENT_STORE_KEY_FILE."""
    k = os.path.join(os.path.dirname(os.path.abspath(db)), "store.key")
    if os.path.exists(k):
        return k
    return os.environ.get("AGENT_STORE_KEY_FILE", k)


def _param(v):
    if v is None:
        return "n:"
    if isinstance(v, bool) or isinstance(v, int):
        return "i:%d" % v
    if isinstance(v, float):
        return "f:%r" % v
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "b:" + bytes(v).hex()
    return "t:%s" % v


def _value(v):
    if isinstance(v, dict) and set(v) == {"blob"}:
        return bytes.fromhex(v["blob"])
    return v


class _Cursor:
    def __init__(self, rows):
        self.rows = rows

    def fetchall(self):
        rows, self.rows = self.rows, []
        return rows

    def fetchone(self):
        return self.rows.pop(0) if self.rows else None

    def __iter__(self):
        return iter(self.fetchall())


class EncryptedConnection:
    """The part of sqlite3.Connection the tests use, over store_sql."""

    def __init__(self, db, keyfile=None):
        self.db = db
        self.keyfile = keyfile or key_file(db)

    def execute(self, sql, params=()):
        cmd = [tool(), "--key-file", self.keyfile, self.db, sql] + \
            [_param(p) for p in params]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        if p.returncode != 0:
            raise sqlite3.DatabaseError(
                p.stderr.decode("utf-8", "replace").strip())
        rows = [tuple(_value(v) for v in json.loads(line))
                for line in p.stdout.decode("utf-8", "surrogateescape")
                .splitlines() if line]
        return _Cursor(rows)

    def executescript(self, sql):
        return self.execute(sql)

    def commit(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def connect(db, timeout=5.0, keyfile=None):
    """sqlite3.connect for a plain store, EncryptedConnection otherwise
    (with `keyfile`, or the one key_file() finds)."""
    if encrypted(db):
        return EncryptedConnection(db, keyfile)
    return sqlite3.connect(db, timeout=timeout)


def connect_ro(db, timeout=30.0, keyfile=None):
    """connect, read-only for a plain store (an encrypted one is opened
    read-write by store_sql: give it only SELECTs and PRAGMA checks)."""
    if encrypted(db):
        return EncryptedConnection(db, keyfile)
    return sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=timeout)

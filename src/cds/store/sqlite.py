"""SQLite connections for the small stores (feedback, used JWT ids): one per thread."""

from __future__ import annotations

import os
import sqlite3
import threading


class ThreadLocalSqlite:
    """Hands each thread its own connection to one database file.

    sqlite3 connections must not cross threads, and gunicorn's threaded workers serve calls
    on several. WAL mode lets every worker process read while one writes; transactions are
    explicit (autocommit otherwise), so a store decides what is atomic.
    """

    def __init__(self, path: str, *, durable: bool = True) -> None:
        self.path = path
        # FULL: a commit survives a power cut, not only a crash (feedback must never be
        # lost once accepted); NORMAL is enough for data that only guards a short window.
        self._synchronous = "FULL" if durable else "NORMAL"
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        # A connection must not cross a fork: gunicorn builds the app (and opens the store) in
        # its master, then a sync worker serves on the same thread in the child process.
        if conn is not None and getattr(self._local, "pid", None) != os.getpid():
            conn = None
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

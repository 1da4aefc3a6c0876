"""The small SQLite stores open a fresh connection in each thread and after a fork."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from cds.store.sqlite import ThreadLocalSqlite


def test_each_thread_gets_its_own_connection(tmp_path: Path) -> None:
    db = ThreadLocalSqlite(str(tmp_path / "x.sqlite3"))
    seen = []
    thread = threading.Thread(target=lambda: seen.append(db.connection()))
    thread.start()
    thread.join()
    assert db.connection() is db.connection()
    assert seen[0] is not db.connection()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_reuse_the_parents_connection(tmp_path: Path) -> None:
    db = ThreadLocalSqlite(str(tmp_path / "x.sqlite3"))
    parent = db.connection()
    parent.execute("CREATE TABLE t (v INTEGER)")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must open its own connection, and it must work
        try:
            child = db.connection()
            child.execute("INSERT INTO t VALUES (1)")
            os.write(write, b"new" if child is not parent else b"same")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"new"
    assert parent.execute("SELECT count(*) FROM t").fetchone() == (1,)

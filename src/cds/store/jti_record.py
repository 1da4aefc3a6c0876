"""The record of used JWT ids (`jti`) in the shared database: one token, one use, fleet-wide."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Double, delete, literal

from cds.store.schema import used_jti

if TYPE_CHECKING:
    from cds.store.database import Database

PURGE_EVERY_S = 60.0


class JtiRecord:
    """Implements cds.trust.replay_guard.ReplayGuard on the shared database.

    The database decides: an INSERT on the primary key succeeds for exactly one of any number
    of concurrent callers, in any worker or replica. A row whose token has expired may be
    taken over; expired rows are purged now and then.
    """

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._next_purge = 0.0
        self._purge_lock = threading.Lock()

    def first_use(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        digest = hashlib.sha256(key.encode()).hexdigest()  # bounded size, nothing to read back
        insert = self._db.insert(used_jti).values(key=digest, expires_at=expires_at)
        statement = insert.on_conflict_do_update(
            index_elements=["key"],
            set_={"expires_at": insert.excluded.expires_at},
            where=used_jti.c.expires_at <= literal(now, Double),
        ).returning(used_jti.c.key)  # a row back: this call inserted (or took over an expired one)
        with self._db.transaction() as conn:
            taken = conn.execute(statement).first() is not None
        self._purge_now_and_then(now)
        return taken

    def purge(self, now: float | None = None) -> int:
        """Delete the rows of expired tokens; returns how many went."""
        cutoff = self._clock() if now is None else now
        with self._db.transaction() as conn:
            statement = delete(used_jti).where(used_jti.c.expires_at <= literal(cutoff, Double))
            return conn.execute(statement).rowcount  # a count, not every deleted key read back

    def _purge_now_and_then(self, now: float) -> None:
        if now < self._next_purge or not self._purge_lock.acquire(blocking=False):
            return
        try:
            self._next_purge = now + PURGE_EVERY_S
            self.purge(now)
        finally:
            self._purge_lock.release()

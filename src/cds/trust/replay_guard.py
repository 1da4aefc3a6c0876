"""Remember which JWT ids (`jti`) were already used, so a captured token cannot be replayed.

The authenticator depends only on the ReplayGuard protocol. The service uses the shared
database's record (cds.store.jti_record.JtiRecord), seen by every worker and replica; the
in-memory guard here is right only for one process (tools, unit tests).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from typing import Protocol


class ReplayGuard(Protocol):
    def first_use(self, key: str, expires_at: float) -> bool:
        """Record `key` until `expires_at` (Unix seconds); False if it is already recorded.

        Must be atomic: of two concurrent calls with the same key, exactly one gets True.
        A Redis store would do `SET key 1 NX EXAT <expires_at>`; SQL stores an INSERT that
        fails on the primary key.
        """
        ...


class InMemoryReplayGuard:
    """Per-process guard: a dict of key -> expiry, pruned as entries expire."""

    def __init__(self, clock: Callable[[], float] = time.time, max_entries: int = 1_000_000) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._expiry: dict[str, float] = {}
        self._queue: list[tuple[float, str]] = []  # min-heap of (expiry, key) for pruning
        self._lock = threading.Lock()

    def first_use(self, key: str, expires_at: float) -> bool:
        now = self._clock()
        with self._lock:
            self._prune(now)
            known = self._expiry.get(key)
            if known is not None and known > now:
                return False
            if len(self._expiry) >= self._max_entries:
                # Refusing is safer than forgetting ids that are still valid.
                return False
            self._expiry[key] = expires_at
            heapq.heappush(self._queue, (expires_at, key))
            return True

    def __len__(self) -> int:
        return len(self._expiry)

    def _prune(self, now: float) -> None:
        while self._queue and self._queue[0][0] <= now:
            expiry, key = heapq.heappop(self._queue)
            if self._expiry.get(key) == expiry:
                del self._expiry[key]

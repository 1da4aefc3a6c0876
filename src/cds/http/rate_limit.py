"""Token buckets per client address, for attempts that must not be tried without end (the
admin token). Bounded: at most MAX_CLIENTS addresses are remembered, the least recent go first."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from cds.errors import CdsError

MAX_CLIENTS = 10_000


class TooManyRequests(CdsError):
    status = 429
    issue_code = "throttled"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, math.ceil(retry_after_s))


class TokenBuckets:
    def __init__(
        self, *, capacity: int, refill_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._capacity = capacity
        self._refill_s = refill_s
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self._capacity), now))
        return min(float(self._capacity), tokens + (now - at) / self._refill_s)

    def wait_s(self, key: str) -> float:
        """0 when `key` may try now, else the seconds until it may."""
        with self._lock:
            tokens = self._tokens(key, self._clock())
        return 0.0 if tokens >= 1 else (1 - tokens) * self._refill_s

    def take(self, key: str) -> None:
        """Count one attempt against `key`."""
        with self._lock:
            now = self._clock()
            self._buckets[key] = (max(0.0, self._tokens(key, now) - 1), now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)

"""A deadline for receiving a whole request, against clients that trickle it.

The receive timeout on every connection (`client_read_timeout_s`) drops a client that goes
silent, but one that sends a byte every few seconds never trips it and holds a server
thread for as long as it likes. Here every request gets a deadline when its thread starts
reading it; a request still arriving at the deadline has its connection's reading side shut,
so the blocked read returns at once and the thread is free. The application reports when it
has the whole body, which ends the deadline before any work on the call begins.

The server side (`cds.server.gunicorn_worker`) starts deadlines; the application only finishes
them, so this module knows nothing of either.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from typing import Any

_GRANULARITY_S = 0.25


class ReadDeadlines:
    def __init__(self) -> None:
        self.seconds = 0.0  # 0: no deadline
        self._pid = -1
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, int]] = []  # (deadline, token, connection key)
        self._active: dict[int, tuple[int, socket.socket]] = {}  # key -> (token, socket)
        self._expired: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def start(self, sock: socket.socket) -> None:
        """The thread begins reading a request from this connection."""
        if self.seconds <= 0:
            return
        if self._pid != os.getpid():  # a forked worker: the parent's watcher thread is not here
            self._pid = os.getpid()
            self._reset()
        with self._lock:
            token = next(self._tokens)
            self._active[id(sock)] = (token, sock)
            self._expired.discard(id(sock))
            deadline = time.monotonic() + self.seconds
            earliest = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, token, id(sock)))
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="read-deadlines", daemon=True)
                self._thread.start()
            elif earliest:  # the watcher sleeps until the earliest deadline: wake it only for a new one
                self._lock.notify()

    def finish(self, sock: Any) -> bool:
        """The request has been read (or given up on). True if its deadline had passed."""
        if sock is None or self._pid != os.getpid():
            return False
        with self._lock:
            self._active.pop(id(sock), None)
            if id(sock) in self._expired:
                self._expired.discard(id(sock))
                return True
            return False

    def _watch(self) -> None:
        while True:
            late: list[socket.socket] = []
            with self._lock:
                while not late:
                    now = time.monotonic()
                    while self._heap and self._heap[0][0] <= now:
                        _deadline, token, key = heapq.heappop(self._heap)
                        entry = self._active.get(key)
                        if entry is not None and entry[0] == token:  # not finished, not reused
                            del self._active[key]
                            self._expired.add(key)
                            late.append(entry[1])
                    if not late:
                        # Finished requests leave their entries behind; waking at most four times
                        # a second clears them in batches instead of once per request.
                        self._lock.wait(max(self._heap[0][0] - now, _GRANULARITY_S) if self._heap else None)
            for sock in late:
                with contextlib.suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RD)  # the blocked read returns; writing still works


DEADLINES = ReadDeadlines()

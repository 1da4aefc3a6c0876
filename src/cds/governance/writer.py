"""Writes audit records off the clinician's path: a bounded queue emptied by one thread.

A call puts its records on the queue and returns; a background thread writes whatever has
queued every `flush_s` seconds, in one transaction. A full queue never drops records: the
call writes its own (slower), and the queue is emptied when the worker exits (gunicorn's
worker_exit hook, and atexit). A batch the database refuses (an outage) is kept and written
again with the next one, every `flush_s` seconds until the database is back; what is kept is
bounded (`queue_size` records, the oldest dropped first, counted and logged), so a short
outage loses nothing and a long one cannot exhaust memory. A worker killed outright (SIGKILL,
out of memory) loses what it had not written yet. That is the price of keeping a database
round trip out of every call.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from cds.governance.process_thread import ProcessThread
from cds.logs import database_error, log_event
from cds.observe.metrics import count_audit_dropped

T = TypeVar("T")
Sink = Callable[[Sequence[T]], None]


class BackgroundWriter(Generic[T]):
    def __init__(self, sink: Sink[T], *, queue_size: int, flush_s: float, name: str = "audit") -> None:
        self._sink = sink
        self._flush_s = flush_s
        self._name = name
        self._queue: queue.Queue[Sequence[T]] = queue.Queue(maxsize=max(1, queue_size))
        # Records a failed write kept for the next attempt, oldest first; written before new ones.
        self._retained: collections.deque[T] = collections.deque()
        self._retained_max = max(1, queue_size)
        self._retained_pid = os.getpid()
        self._lock = threading.Lock()  # one writer at a time: the thread, a flush or a full queue
        self._worker = ProcessThread(f"{name}-writer", self._run, self._lock)
        ref = weakref.ref(self)  # the exit hook must not keep a discarded app alive
        atexit.register(lambda: (writer := ref()) is not None and writer.close())

    def submit(self, records: Sequence[T]) -> None:
        if not records:
            return
        if self._flush_s <= 0:  # synchronous mode: written before the call returns
            self._write(list(records))
            return
        self._worker.ensure(self._forget_parent_queue)
        try:
            self._queue.put_nowait(records)
        except queue.Full:
            self._write(list(records))

    def flush(self) -> None:
        """Write everything queued so far (before reading the figures, and at exit)."""
        batch: list[T] = []
        while True:
            try:
                batch.extend(self._queue.get_nowait())
            except queue.Empty:
                break
        if batch or self._retained:
            self._write(batch)

    def close(self) -> None:
        # A later submit (tests, a reused app) starts a fresh thread; only the process that
        # queued has anything to write.
        if self._worker.stop():
            self.flush()

    def _write(self, batch: list[T]) -> None:
        with self._lock:
            if self._retained_pid != os.getpid():  # a forked child never writes its parent's
                self._retained.clear()
            records = [*self._retained, *batch]
            if not records:
                return
            try:
                self._sink(records)  # the sink is idempotent: a record written twice is kept once
            except Exception as exc:  # a failing database must not take the service down
                self._retain(records, exc)
                return
            if self._retained:
                log_event(f"{self._name}: kept records written", retried=len(self._retained))
                self._retained.clear()

    def _retain(self, records: list[T], exc: Exception) -> None:
        """Keep a failed batch for the next attempt, within the bound (oldest dropped first)."""
        dropped = max(0, len(records) - self._retained_max)
        self._retained = collections.deque(records[dropped:])
        self._retained_pid = os.getpid()
        if dropped:
            count_audit_dropped(dropped)
        log_event(
            f"{self._name}: could not write records; kept to retry",
            logging.ERROR,
            records=len(records),
            kept=len(self._retained),
            dropped=dropped or None,
            error_type=type(exc).__name__,
            error=database_error(exc),
        )

    def _forget_parent_queue(self) -> None:
        self._queue = queue.Queue(maxsize=self._queue.maxsize)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self._flush_s):
            self.flush()

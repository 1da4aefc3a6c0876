"""Writes audit records off the clinician's path: a bounded queue emptied by one thread.

A call puts its records on the queue and returns; a background thread writes whatever has
queued every `flush_s` seconds, in one transaction. A full queue never drops records: the
call writes its own (slower), and the queue is emptied when the worker exits (gunicorn's
worker_exit hook, and atexit). Records are lost in two cases, both logged or documented: a
worker killed outright (SIGKILL, out of memory) loses at most its last `flush_s` seconds,
and a batch the database refuses (an outage) is logged and dropped rather than failing
calls. That is the price of keeping a database round trip out of every call.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from cds.logs import log_event

T = TypeVar("T")
Sink = Callable[[Sequence[T]], None]


class BackgroundWriter(Generic[T]):
    def __init__(self, sink: Sink[T], *, queue_size: int, flush_s: float, name: str = "audit") -> None:
        self._sink = sink
        self._flush_s = flush_s
        self._name = name
        self._queue: queue.Queue[Sequence[T]] = queue.Queue(maxsize=max(1, queue_size))
        self._lock = threading.Lock()  # one writer at a time: the thread, a flush or a full queue
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()
        ref = weakref.ref(self)  # the exit hook must not keep a discarded app alive
        atexit.register(lambda: (writer := ref()) is not None and writer.close())

    def submit(self, records: Sequence[T]) -> None:
        if not records:
            return
        if self._flush_s <= 0:  # synchronous mode: written before the call returns
            self._write(list(records))
            return
        self._ensure_thread()
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
        if batch:
            self._write(batch)

    def close(self) -> None:
        self._stop.set()
        self._thread = None  # a later submit (tests, a reused app) starts a fresh thread
        if self._pid == os.getpid():  # only the process that queued has anything to write
            self.flush()

    def _write(self, batch: list[T]) -> None:
        with self._lock:
            try:
                self._sink(batch)
            except Exception as exc:  # a failing database must not take the service down
                log_event(
                    f"{self._name}: could not write records",
                    logging.ERROR,
                    records=len(batch),
                    error_type=type(exc).__name__,
                    # the first line only: the driver's text may go on to quote the statement
                    error=str(exc).split("\n", 1)[0].split("[SQL:", 1)[0][:200],
                )

    def _ensure_thread(self) -> None:
        # gunicorn forks workers from a master that built the app: each worker needs its own
        # thread (threads do not survive a fork) and starts with an empty queue.
        if self._pid == os.getpid() and self._thread is not None:
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None:
                return
            if self._pid != os.getpid():
                self._queue = queue.Queue(maxsize=self._queue.maxsize)
            # Each thread watches its own stop event: a thread that close() stopped never picks
            # up the event of the thread a later submit() starts.
            self._stop = stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name=f"{self._name}-writer", daemon=True
            )
            self._pid = os.getpid()
            self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self._flush_s):
            self.flush()

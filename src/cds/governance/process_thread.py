"""One background thread per process, started on first use.

gunicorn forks its workers from a master that built the app, and threads do not survive a
fork: each process starts its own thread the first time it has work, and a forked process
drops what its parent had queued (the parent finishes its own). The audit writer and the
shadow pilot both run this way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class ProcessThread:
    def __init__(self, name: str, run: Callable[[threading.Event], None], lock: threading.Lock) -> None:
        self._name = name
        self._run = run
        self._lock = lock  # the owner's lock: starting never races the owner's own work
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()

    def ensure(self, forked: Callable[[], None]) -> None:
        """Start this process's thread unless it is running; `forked` is called first when the
        thread was last started by another process (or never), to drop what it had queued."""
        if self._pid == os.getpid() and self._thread is not None:
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None:
                return
            if self._pid != os.getpid():
                forked()
            # Each thread watches its own stop event: a thread that stop() ended never picks up
            # the event of the thread a later ensure() starts.
            self._stop = stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(stop,), name=self._name, daemon=True)
            self._pid = os.getpid()
            self._thread.start()

    def stop(self) -> bool:
        """Ask the thread to end (a later ensure() starts a fresh one). True when this process
        started it: what is queued here is then its own to finish."""
        self._stop.set()
        self._thread = None
        return self._pid == os.getpid()

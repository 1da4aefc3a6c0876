"""The gunicorn worker `cds serve` runs: gthread, with new connections waiting in the poller.

Recent gunicorn gthread workers hand every new connection to a worker thread at once, and
the thread then waits up to 5 s for the client's first byte. A handful of connections that
open and send nothing (browser pre-connects, port scanners, a pool opening sockets ahead of
use) then hold every thread, and real calls wait seconds behind them: with 4 threads, 6
idle connections delayed a call by about 10 s. Here a new connection joins the worker's
poller like a kept-alive one and reaches a thread only when it has something to read; one
that stays silent is closed after the keep-alive time without ever taking a thread.
"""

from __future__ import annotations

import errno
import selectors
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker


class PollFirstThreadWorker(ThreadWorker):
    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())  # non-blocking
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn))


def worker_class() -> type | str:
    """This worker where gunicorn's gthread has the pending-connection machinery it relies
    on; otherwise gunicorn's own gthread, whose older versions already poll new connections."""
    needed = ("on_pending_socket_readable", "murder_pending")
    return PollFirstThreadWorker if all(hasattr(ThreadWorker, name) for name in needed) else "gthread"

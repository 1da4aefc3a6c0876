"""How `cds serve` runs gunicorn against slow and silent clients.

Silent connections: recent gunicorn gthread workers hand every new connection to a thread
at once, and the thread then waits up to 5 s for the client's first byte. A handful of
connections that open and send nothing (browser pre-connects, port scanners, a pool opening
sockets ahead of use) then hold every thread and real calls wait behind them: with 4
threads, 6 idle connections delayed a call by about 10 s. `PollFirstThreadWorker` keeps a
new connection in the worker's poller, like a kept-alive one, until it has something to
read; one that stays silent is closed after the keep-alive time without taking a thread.

Requests gunicorn refuses itself (a header over max_header_bytes, a request line too long,
malformed HTTP) are answered with its own HTML page; `handle_error` answers them with the
same status as a FHIR OperationOutcome, the shape of every other error of the service.

Stalled clients: `limit_client_stalls` gives every connection a receive timeout, so a
client that stops in the middle of its headers or body is dropped instead of holding a
thread for good; and a client that trickles its request meets the request deadline.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import struct
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import orjson
from gunicorn.http.errors import LimitRequestHeaders, LimitRequestLine
from gunicorn.workers.gthread import TConn, ThreadWorker

from cds.errors import operation_outcome
from cds.http.read_deadline import DEADLINES


class _CapturedError:
    """Stands in for the client socket while gunicorn writes its error page: keeps the status
    line and lets gunicorn do its logging and access log as usual."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, _flag: int) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.data += data

    def status(self) -> tuple[int, str]:
        line = self.data.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        if len(line) == 3 and line[1].isdigit():
            return int(line[1]), line[2]
        return 400, "Bad Request"


def error_answer(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP response carrying an OperationOutcome; the connection then closes."""
    code = {431: "too-costly", 414: "too-costly", 500: "exception"}.get(status, "invalid")
    body = orjson.dumps(operation_outcome(message, code=code))
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorsThreadWorker(ThreadWorker):
    """gunicorn's thread worker whose own error answers are OperationOutcomes, not HTML."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        captured = _CapturedError()
        super().handle_error(req, captured, addr, exc)  # logs, and picks the status
        status, reason = captured.status()
        with contextlib.suppress(OSError):  # the client is gone
            client.sendall(error_answer(status, reason, self.error_message(status, exc)))

    def error_message(self, status: int, exc: BaseException) -> str:
        if isinstance(exc, LimitRequestHeaders):
            return (
                f"request headers too large ({str(exc)[:100]}): a header, Authorization included, may "
                f"hold at most {self.cfg.limit_request_field_size} bytes (setting max_header_bytes)"
            )
        if isinstance(exc, LimitRequestLine):
            return f"request line longer than {self.cfg.limit_request_line} bytes"
        if status >= 500:
            return "the server could not handle the request"
        return f"not a valid HTTP request: {str(exc)[:200]}"


class PollFirstThreadWorker(JsonErrorsThreadWorker):
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

    def handle(self, conn: Any) -> Any:
        DEADLINES.start(conn.sock)  # the application finishes it once it has the whole body
        try:
            return super().handle(conn)
        finally:
            DEADLINES.finish(conn.sock)


def worker_class() -> type | str:
    """This worker where gunicorn's gthread has the pending-connection machinery it relies
    on; otherwise gunicorn's own gthread (whose older versions already poll new connections)
    with JSON error answers."""
    needed = ("on_pending_socket_readable", "murder_pending")
    if all(hasattr(ThreadWorker, name) for name in needed):
        return PollFirstThreadWorker
    return JsonErrorsThreadWorker


class _StalledClientLine(logging.Filter):
    """gunicorn reports a read that timed out as an error with a traceback; it is only a
    client that stopped sending, so one warning line says so."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BlockingIOError | TimeoutError):
            record.msg, record.args = "client sent nothing for client_read_timeout_s; connection closed", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def limit_client_stalls(seconds: float, request_deadline: float) -> Callable[[Any], None]:
    """A gunicorn `when_ready` hook giving the listening sockets a receive timeout, and every
    request a deadline for arriving whole (`cds.http.read_deadline`).

    Every accepted connection inherits SO_RCVTIMEO, so a blocking read from a client that
    stops sending (part of its headers, or of its body) fails after `seconds` instead of
    holding a worker thread for good: without it, as many stalled clients as there are
    threads stop the service. It is a socket option, so it bounds every read wherever it
    happens, in the server's header parsing as in the application's body read.
    """

    def when_ready(server: Any) -> None:
        DEADLINES.seconds = request_deadline  # set before the workers fork, so they inherit it
        if seconds <= 0:
            return
        logging.getLogger("gunicorn.error").addFilter(_StalledClientLine())
        whole = int(seconds)
        timeval = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
        for listener in server.LISTENERS:
            getattr(listener, "sock", listener).setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)

    return when_ready

"""Reading and discarding the rest of a refused request body, so the client reads the answer.

A server that answers 413 and closes while the client is still sending makes the client's
kernel see its data refused: the connection is reset, and a client that sends its whole body
before reading (Python's urllib, any chunked upload) gets a broken pipe instead of the
OperationOutcome. Like nginx's lingering close, the rest of the body is read and dropped first,
up to a bound in bytes and in time so a client cannot keep a thread busy with it.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any

DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_MAX_SECONDS = 5.0
_CHUNK = 64 * 1024


def drain_body(
    environ: dict[str, Any],
    *,
    max_bytes: int | None = None,
    seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Read and discard what is left of the request body; True if its end was reached.

    Stops at the end of the body, after max_bytes, once `seconds` have passed or when the
    read fails (the client went silent past the receive timeout, or closed). The server's
    WSGI input knows where the body ends, for Content-Length and chunked bodies alike. When
    the end was not reached, the connection's reading side is shut: the server then closes
    it after the answer instead of reading the rest as the start of the next request.
    """
    stream = environ.get("wsgi.input")
    if stream is None:
        return True
    max_bytes = DRAIN_MAX_BYTES if max_bytes is None else max_bytes
    deadline = clock() + (DRAIN_MAX_SECONDS if seconds is None else seconds)
    dropped = 0
    try:
        while dropped < max_bytes and clock() < deadline:
            part = stream.read(min(_CHUNK, max_bytes - dropped))
            if not part:
                return True
            dropped += len(part)
    except (OSError, ValueError):  # a failed or closed connection: nothing more to read
        pass
    connection = environ.get("gunicorn.socket")
    if isinstance(connection, socket.socket):
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RD)
    return False

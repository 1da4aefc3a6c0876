"""The rest of a refused body is read up to a bound in bytes and in time, never without end."""

from __future__ import annotations

import io
import itertools
import socket

from cds.http.drain import drain_body


class Endless(io.RawIOBase):
    def __init__(self) -> None:
        self.served = 0

    def read(self, size: int = -1) -> bytes:
        self.served += size
        return b"x" * size


def test_a_body_is_read_to_its_end() -> None:
    assert drain_body({"wsgi.input": io.BytesIO(b"x" * 1_000_000)}) is True


def test_an_endless_body_stops_at_the_byte_bound_and_shuts_the_reading_side() -> None:
    stream = Endless()
    left, right = socket.socketpair()
    with left, right:
        assert drain_body({"wsgi.input": stream, "gunicorn.socket": left}, max_bytes=1_000_000) is False
        assert stream.served == 1_000_000
        assert left.recv(1) == b""  # reading side shut: the server sees the end and closes


def test_an_endless_body_stops_at_the_time_bound() -> None:
    stream = Endless()
    ticks = itertools.count()
    assert drain_body({"wsgi.input": stream}, seconds=10, clock=lambda: float(next(ticks))) is False
    assert stream.served <= 10 * 64 * 1024


def test_a_failed_read_ends_the_drain() -> None:
    class Broken(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise TimeoutError("client silent")

    assert drain_body({"wsgi.input": Broken()}) is False

"""The request deadline frees a thread blocked on a client that trickles its request."""

from __future__ import annotations

import socket
import time

from cds.http.read_deadline import ReadDeadlines


def test_a_read_still_waiting_at_the_deadline_returns_and_is_reported_late() -> None:
    deadlines = ReadDeadlines()
    deadlines.seconds = 0.2
    server, client = socket.socketpair()
    with server, client:
        deadlines.start(server)
        started = time.monotonic()
        assert server.recv(10) == b""  # blocked until the deadline shut the reading side
        assert 0.15 < time.monotonic() - started < 2
        assert deadlines.finish(server) is True
        server.sendall(b"late")  # the answer can still be written
        assert client.recv(10) == b"late"


def test_a_request_read_in_time_is_left_alone() -> None:
    deadlines = ReadDeadlines()
    deadlines.seconds = 0.2
    server, client = socket.socketpair()
    with server, client:
        deadlines.start(server)
        client.sendall(b"whole request")
        assert server.recv(20) == b"whole request"
        assert deadlines.finish(server) is False
        time.sleep(0.4)  # past the deadline: nothing happens to a finished request
        client.sendall(b"next")
        assert server.recv(10) == b"next"


def test_no_deadline_when_turned_off() -> None:
    deadlines = ReadDeadlines()
    server, client = socket.socketpair()
    with server, client:
        deadlines.start(server)
        assert deadlines.finish(server) is False
        assert deadlines.finish(None) is False

"""The background audit writer: nothing accepted is lost, the caller never waits for the
database unless the queue is full, and a failing database does not fail the call."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cds.governance.writer import BackgroundWriter


class Sink:
    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.threads: list[str] = []
        self.gate = gate
        self.fail = fail

    def __call__(self, batch: Sequence[int]) -> None:
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise OSError("database unavailable")
        self.threads.append(threading.current_thread().name)
        self.batches.append(list(batch))


def test_records_are_written_by_the_background_thread_in_batches() -> None:
    sink = Sink()
    writer = BackgroundWriter(sink, queue_size=100, flush_s=3600)
    for n in range(5):
        writer.submit([n, n + 100])
    assert sink.batches == []  # nothing written on the caller's path
    writer.flush()
    assert sink.batches == [[0, 100, 1, 101, 2, 102, 3, 103, 4, 104]]  # one transaction
    writer.close()


def test_background_thread_flushes_on_its_own() -> None:
    sink = Sink()
    writer = BackgroundWriter(sink, queue_size=100, flush_s=0.01)
    writer.submit([1])
    for _ in range(500):
        if sink.batches:
            break
        threading.Event().wait(0.01)
    assert sink.batches == [[1]] and sink.threads == ["audit-writer"]
    writer.close()


def test_full_queue_writes_in_the_caller_and_close_writes_the_rest() -> None:
    sink = Sink()
    writer = BackgroundWriter(sink, queue_size=2, flush_s=3600)
    writer.submit([1])
    writer.submit([2])
    writer.submit([3])  # queue full: written at once by the caller
    assert sink.batches == [[3]] and sink.threads == [threading.current_thread().name]
    writer.close()  # worker exit
    assert sorted(x for b in sink.batches for x in b) == [1, 2, 3]


def test_zero_flush_interval_writes_synchronously() -> None:
    sink = Sink()
    writer = BackgroundWriter(sink, queue_size=10, flush_s=0)
    writer.submit([7])
    assert sink.batches == [[7]]


def test_a_failing_database_is_logged_not_raised() -> None:
    writer = BackgroundWriter(Sink(fail=True), queue_size=1, flush_s=0)
    writer.submit([1])  # no exception reaches the call


def test_a_batch_the_database_refused_is_written_once_it_is_back() -> None:
    sink = Sink(fail=True)
    writer = BackgroundWriter(sink, queue_size=100, flush_s=3600)
    writer.submit([1, 2])
    writer.flush()  # the database is away: kept, not dropped
    writer.submit([3])
    writer.flush()
    assert sink.batches == []
    sink.fail = False  # the database is back
    writer.flush()  # nothing new queued: the kept records are written all the same
    assert sink.batches == [[1, 2, 3]]
    writer.flush()
    assert sink.batches == [[1, 2, 3]]  # written once
    writer.close()


def test_what_is_kept_is_bounded_the_oldest_dropped_and_counted() -> None:
    from tests.observe.test_metrics import value

    before = value("cds_audit_records_dropped_total")
    sink = Sink(fail=True)
    writer = BackgroundWriter(sink, queue_size=3, flush_s=3600)
    for n in range(5):
        writer.submit([n])
        writer.flush()
    sink.fail = False
    writer.flush()
    assert sink.batches == [[2, 3, 4]]  # the newest three: the oldest went first
    assert value("cds_audit_records_dropped_total") == before + 2
    writer.close()

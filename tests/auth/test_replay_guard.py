"""Replay guards: a jti is refused while its token lives, and shared stores span workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.config import load_settings
from cds.store.database import open_database
from cds.store.jti_record import JtiRecord
from cds.trust.replay_guard import InMemoryReplayGuard


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_in_memory_refuses_a_second_use_until_expiry(clock: FakeClock) -> None:
    guard = InMemoryReplayGuard(clock=clock)
    assert guard.first_use("iss\njti-1", clock.now + 60)
    assert not guard.first_use("iss\njti-1", clock.now + 60)
    assert guard.first_use("iss\njti-2", clock.now + 60)
    clock.now += 61
    assert guard.first_use("iss\njti-1", clock.now + 60)  # the token it belonged to is dead


def test_in_memory_forgets_expired_ids(clock: FakeClock) -> None:
    guard = InMemoryReplayGuard(clock=clock)
    for n in range(100):
        guard.first_use(f"jti-{n}", clock.now + 10)
    clock.now += 11
    guard.first_use("fresh", clock.now + 10)
    assert len(guard) == 1


def test_in_memory_refuses_when_full_rather_than_forgetting(clock: FakeClock) -> None:
    guard = InMemoryReplayGuard(clock=clock, max_entries=2)
    assert guard.first_use("a", clock.now + 60) and guard.first_use("b", clock.now + 60)
    assert not guard.first_use("c", clock.now + 60)


def test_database_record_is_shared_by_two_workers(tmp_path: Path, clock: FakeClock) -> None:
    settings = load_settings(environ={}, database_url=f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    worker_a = JtiRecord(open_database(settings), clock=clock)
    worker_b = JtiRecord(open_database(settings), clock=clock)
    assert worker_a.first_use("iss\njti-1", clock.now + 60)
    assert not worker_b.first_use("iss\njti-1", clock.now + 60)
    assert not worker_a.first_use("iss\njti-1", clock.now + 60)
    clock.now += 61
    assert worker_b.first_use("iss\njti-1", clock.now + 60)  # the token it belonged to is dead
    assert not worker_a.first_use("iss\njti-1", clock.now + 60)


def test_database_record_purges_expired_ids(tmp_path: Path, clock: FakeClock) -> None:
    record = JtiRecord(open_database(load_settings(environ={}, database_url="sqlite://")), clock=clock)
    for n in range(20):
        record.first_use(f"jti-{n}", clock.now + 10)
    record.first_use("long-lived", clock.now + 100)
    clock.now += 11
    assert record.purge() == 20
    assert not record.first_use("long-lived", clock.now + 100)

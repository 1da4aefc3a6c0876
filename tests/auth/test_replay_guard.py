"""Replay guards: a jti is refused while its token lives, and shared stores span workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.trust.replay_guard import InMemoryReplayGuard, SqliteReplayGuard


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


def test_sqlite_guard_is_shared_by_two_workers(tmp_path: Path, clock: FakeClock) -> None:
    path = str(tmp_path / "jti.sqlite3")
    worker_a, worker_b = SqliteReplayGuard(path, clock=clock), SqliteReplayGuard(path, clock=clock)
    assert worker_a.first_use("iss\njti-1", clock.now + 60)
    assert not worker_b.first_use("iss\njti-1", clock.now + 60)
    clock.now += 61
    assert worker_b.first_use("iss\njti-1", clock.now + 60)

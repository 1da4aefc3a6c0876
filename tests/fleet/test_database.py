"""The one database on both supported backends: migrations, the start-up schema check, and
atomic, idempotent writes that any number of processes may make at once."""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from cds.config import load_settings
from cds.store.audit import CardAudit, CardAuditRow
from cds.store.database import Database, head_revision, open_database
from cds.store.feedback import SqlFeedbackStore, records_from_request
from cds.store.governance import purge_before
from cds.store.jti_record import JtiRecord
from tests.fleet.processes import Postgres, service_environment
from tests.served import CDS

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    postgres: Postgres = request.getfixturevalue("postgres")
    return postgres.new_database()[1]


def _open(url: str) -> Database:
    return open_database(load_settings(environ={}, database_url=url), migrate=True)


def _cds(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = service_environment(tmp_path, CDS_DATABASE_URL=url, CDS_AUDIT_SECRET="a" * 40)
    return subprocess.run(
        [str(CDS), *args], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


def test_start_up_refuses_an_out_of_date_schema_until_cds_db_upgrade(
    postgres: Postgres, tmp_path: Path
) -> None:
    name, url = postgres.new_database()
    refused = _cds(tmp_path, url, "serve", "--port", "1")
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "cds db upgrade" in lines[0] and "revision none" in lines[0]
    assert postgres.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", name) == "0"

    assert _cds(tmp_path, url, "db", "current").returncode == 1
    upgraded = _cds(tmp_path, url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = _cds(tmp_path, url, "db", "current")
    assert current.returncode == 0 and f"revision {head_revision()}" in current.stdout
    assert _cds(tmp_path, url, "db", "upgrade").returncode == 0  # idempotent
    tables = postgres.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", name)
    assert tables.split() == ["alembic_version", "calls", "card_audit", "feedback", "knowledge_versions",
                              "shadow_calls", "shadow_cards", "site_secret", "used_jti"]  # fmt: skip


def test_the_embedded_sqlite_database_migrates_itself(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "nested" / "data"))
    db = open_database(settings)
    assert db.current_revision() == head_revision()
    assert (tmp_path / "nested" / "data" / "cds.sqlite3").is_file()


def test_of_many_concurrent_first_uses_of_a_jti_exactly_one_wins(database_url: str) -> None:
    # Separate Database objects stand for separate worker processes (own pools, own connections).
    records = [JtiRecord(_open(database_url)) for _ in range(4)]
    expires = datetime.now(UTC).timestamp() + 300

    def use(record: JtiRecord, key: str, barrier: threading.Barrier, results: list[bool]) -> None:
        barrier.wait()
        results.append(record.first_use(key, expires))

    for n in range(10):
        barrier = threading.Barrier(8)
        results: list[bool] = []
        threads = [
            threading.Thread(target=use, args=(records[i % 4], f"iss\njti-{n}", barrier, results))
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False] * 7 + [True]


def _feedback(card: str, outcome: str = "overridden") -> dict:
    return {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-11-20T10:00:00Z"}


def test_feedback_is_stored_once_per_item_and_all_or_nothing(database_url: str) -> None:
    store = SqlFeedbackStore(_open(database_url))
    now = datetime.now(UTC)
    body = {"feedback": [_feedback("card-a"), _feedback("card-b")]}
    store.add(records_from_request("svc", body, now))
    store.add(records_from_request("svc", body, now + timedelta(seconds=5)))  # a client retry
    assert len(store.for_card("card-a")) == len(store.for_card("card-b")) == 1
    assert store.for_card("card-a")[0].received_at == now  # read back as aware UTC

    # A batch the database refuses part of is refused whole: card-c is not stored either.
    bad = records_from_request("svc", {"feedback": [_feedback("card-c"), _feedback("card-d", "maybe")]}, now)
    with pytest.raises(IntegrityError):
        store.add(bad)
    assert store.for_card("card-c") == []


def test_card_audit_records_once_and_purges_by_issue_time(database_url: str) -> None:
    db = _open(database_url)
    audit = CardAudit(db)
    paris = timezone(timedelta(hours=1))
    old = datetime(2026, 1, 1, 12, 0, tzinfo=paris)
    new = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def row(uuid: str, issued_at: datetime) -> CardAuditRow:
        return CardAuditRow(
            uuid,
            "svc",
            "b12-deficiency",
            "warning",
            "0f6b1b52-2a9c-4d6e-9d8e-6a1f0c0b5e11",
            issued_at,
            "hmac",
            "active",
            "[]",
        )

    audit.record([row("u1", old), row("u2", new)])
    audit.record([row("u1", old)])  # recorded again: left as it was
    # 11:00 UTC is the old card's issue time: it is kept by a cut-off at that instant.
    assert purge_before(db, datetime(2026, 1, 1, 11, 0, tzinfo=UTC)).cards == 0
    assert purge_before(db, datetime(2026, 3, 1, tzinfo=UTC)).cards == 1
    assert purge_before(db, datetime(2026, 3, 1, tzinfo=UTC)).cards == 0


def test_a_database_that_goes_away_is_a_503_to_retry_never_an_accepted_token_or_a_500(
    postgres: Postgres, tmp_path: Path
) -> None:
    from cds.http.app import create_app
    from tests.fleet.tokens import TestEhr

    name, url = postgres.new_database()
    ehr = TestEhr(tmp_path)
    settings = load_settings(environ=ehr.settings(), database_url=url, audit_secret="a" * 40)
    open_database(settings, migrate=True).dispose()
    client = create_app(settings).test_client()
    feedback = {"feedback": [_feedback("card-x")]}
    path = "/cds-services/deficiency-screen/feedback"
    assert (
        client.post(path, json=feedback, headers={"Authorization": f"Bearer {ehr.token(path)}"}).status_code
        == 200
    )

    postgres.psql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    postgres.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        token = ehr.token(path)
        down = client.post(path, json=feedback, headers={"Authorization": f"Bearer {token}"})
        assert down.status_code == 503 and down.headers["Retry-After"] == "1"
        assert down.get_json()["issue"][0]["code"] == "transient"
    finally:
        postgres.psql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    # The token was never recorded as used, so the retry with it is accepted now.
    assert client.post(path, json=feedback, headers={"Authorization": f"Bearer {token}"}).status_code == 200

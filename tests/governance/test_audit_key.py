"""The audit's pseudonym key is never kept in the audited database: a private file for one host
(a key an earlier version kept in the database moves into it, pseudonyms unchanged), a named
secret for a PostgreSQL fleet (refused at start-up without one), and a fingerprint with every
call so a report says when its period spans a change of key."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import create_engine, text

from cds.cli import main
from cds.config import ConfigError, load_settings
from cds.governance.audit_key import read_key_file, write_key_file
from cds.store.database import Database, _alembic_config, create_database_engine
from tests.governance.conftest import fixture, request_for

AppFactory = Callable[..., Flask]
B12 = "b12-deficiency-metformin-older-adult"
PATIENT = fixture(B12).request["context"]["patientId"]


def hmac_of(secret: bytes, patient: str = PATIENT) -> str:
    return hmac.new(secret, patient.encode(), hashlib.sha256).hexdigest()


def fingerprint(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()[:8]


def sql(db_url: str, statement: str) -> list[tuple]:
    with create_engine(db_url).begin() as conn:
        result = conn.execute(text(statement))
        return [tuple(r) for r in result] if result.returns_rows else []


def call(app: Flask, hook_instance: str, name: str = B12) -> None:
    response = app.test_client().post(
        f"/cds-services/{fixture(name).service}", json=request_for(name, hook_instance)
    )
    assert response.status_code == 200, response.get_json()


def an_earlier_versions_database(db_url: str, key_hex: str) -> None:
    """A database as the version before this one left it: at revision 0002, its generated audit
    key in table site_secret."""
    db = Database(create_database_engine(db_url))
    with db.transaction() as conn:
        config = _alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
    db.dispose()
    sql(db_url, f"INSERT INTO site_secret (name, value) VALUES ('audit_hmac_key', '{key_hex}')")


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_key_left_in_the_database_moves_to_a_private_file_and_pseudonyms_stay(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    old_key = secrets.token_hex(32)
    an_earlier_versions_database(db_url, old_key)
    earlier_pseudonym = hmac_of(bytes.fromhex(old_key))  # what the earlier version recorded

    call(make_app(), "c0000000-0000-4000-8000-000000000001")
    key_file = tmp_path / "data" / "audit-key"
    assert mode_of(key_file) == 0o600
    assert key_file.read_text() == f"hex:{old_key}\n"
    assert sql(db_url, "SELECT * FROM site_secret") == []  # gone from the database
    assert {r[0] for r in sql(db_url, "SELECT patient_key FROM card_audit")} == {earlier_pseudonym}

    call(make_app(), "c0000000-0000-4000-8000-000000000002")  # a restart: the file is the key now
    assert {r[0] for r in sql(db_url, "SELECT patient_key FROM card_audit")} == {earlier_pseudonym}
    assert key_file.read_text() == f"hex:{old_key}\n"


def test_a_generated_key_is_a_private_file_and_nowhere_in_the_database(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    call(make_app(), "c0000000-0000-4000-8000-000000000011")
    key_file = tmp_path / "data" / "audit-key"
    assert mode_of(key_file) == 0o600
    secret = read_key_file(key_file, "test")
    assert {r[0] for r in sql(db_url, "SELECT patient_key FROM card_audit")} == {hmac_of(secret)}
    assert sql(db_url, "SELECT * FROM site_secret") == []
    # A copy of the database file (a dump, a backup) holds no trace of the key.
    database_bytes = Path(db_url.removeprefix("sqlite:///")).read_bytes()
    assert secret not in database_bytes and secret.hex().encode() not in database_bytes
    assert [r[0] for r in sql(db_url, "SELECT key_fingerprint FROM calls")] == [fingerprint(secret)]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_may_read_or_change_is_refused(
    make_app: AppFactory, tmp_path: Path, mode: int
) -> None:
    generated = tmp_path / "data" / "audit-key"
    make_app()  # generates it
    generated.chmod(mode)
    with pytest.raises(ConfigError, match=f"{generated}.*other users.*chmod 600 {generated}"):
        make_app()
    named = tmp_path / "named-key"
    named.write_text("a-named-key-of-forty-characters-0123456789\n")
    named.chmod(mode)
    with pytest.raises(ConfigError, match=f"'audit_secret_file'.*{named}.*other users"):
        make_app(audit_secret_file=str(named))


def test_a_named_key_file_gives_the_pseudonyms_of_the_same_audit_secret(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    value = "site-secret-moved-from-the-environment-0123"
    call(make_app(audit_secret=value), "c0000000-0000-4000-8000-000000000021")
    named = tmp_path / "named-key"
    named.write_text(value + "\n")  # as `echo "$CDS_AUDIT_SECRET" > file` writes it
    named.chmod(0o600)
    call(make_app(audit_secret_file=str(named)), "c0000000-0000-4000-8000-000000000022")
    assert {r[0] for r in sql(db_url, "SELECT patient_key FROM card_audit")} == {hmac_of(value.encode())}
    assert not (tmp_path / "data" / "audit-key").exists()  # a named key generates nothing
    with pytest.raises(ConfigError, match="does not exist"):
        make_app(audit_secret_file=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="both set"):
        load_settings(environ={}, audit_secret="x" * 40, audit_secret_file=str(named))


def test_a_key_file_holding_another_key_than_the_database_is_refused(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    an_earlier_versions_database(db_url, secrets.token_hex(32))
    write_key_file(tmp_path / "data" / "audit-key", "another-key")
    with pytest.raises(ConfigError, match="holds another key than the one kept in the database"):
        make_app()
    assert len(sql(db_url, "SELECT * FROM site_secret")) == 1  # nothing lost


def test_a_key_file_is_created_once_whoever_races_to_create_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit-key"
    barrier = threading.Barrier(8)

    def create(n: int) -> None:
        barrier.wait()
        write_key_file(path, f"key-{n}")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first = path.read_text()
    assert first.startswith("key-") and mode_of(path) == 0o600
    write_key_file(path, "a later key")  # never replaces a key already there
    assert path.read_text() == first
    assert os.listdir(path.parent) == ["audit-key"]  # no temporary file left behind


def test_an_in_memory_database_gets_a_key_for_the_process_and_writes_no_file(tmp_path: Path) -> None:
    from cds.http.app import create_app

    create_app(load_settings(environ={}, database_url="sqlite://", data_dir=str(tmp_path / "data")))
    assert not (tmp_path / "data" / "audit-key").exists()


def test_serve_on_postgresql_without_an_audit_key_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 answers nothing: the refusal comes before any attempt to reach the database.
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql+psycopg://cds@127.0.0.1:1/cds")
    assert main(["serve"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "'audit_secret' or 'audit_secret_file' is required with a PostgreSQL database" in lines[0]
    assert "cds db move-audit-key" in lines[0]


def test_cds_db_move_audit_key_moves_an_earlier_versions_key_into_a_file(
    make_app: AppFactory, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    old_key = secrets.token_hex(32)
    an_earlier_versions_database(db_url, old_key)
    monkeypatch.setenv("CDS_DATABASE_URL", db_url)
    target = tmp_path / "secrets" / "audit-key"
    assert main(["db", "move-audit-key", "--to", str(target)]) == 0
    assert f"audit key {fingerprint(bytes.fromhex(old_key))} moved to {target}" in capsys.readouterr().out
    assert mode_of(target) == 0o600 and sql(db_url, "SELECT * FROM site_secret") == []
    assert main(["db", "move-audit-key", "--to", str(target)]) == 1  # nothing left to move
    # A replica naming the file makes the earlier version's pseudonyms.
    call(make_app(audit_secret_file=str(target)), "c0000000-0000-4000-8000-000000000031")
    assert {r[0] for r in sql(db_url, "SELECT patient_key FROM card_audit")} == {
        hmac_of(bytes.fromhex(old_key))
    }


def test_a_named_secret_with_a_key_left_in_the_database_is_warned_about(
    make_app: AppFactory, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    an_earlier_versions_database(db_url, secrets.token_hex(32))
    make_app(audit_secret="k" * 40)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("the database still holds the audit key an earlier version generated" in w for w in warnings)


def test_a_report_across_a_key_change_says_so(
    make_app: AppFactory, db_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    before, after = "k" * 40, "m" * 40
    call(make_app(audit_secret=before), "c0000000-0000-4000-8000-000000000041")
    monkeypatch.setenv("CDS_DATABASE_URL", db_url)
    capsys.readouterr()
    assert main(["report"]) == 0
    assert "audit keys" not in capsys.readouterr().out  # one key: nothing to say

    call(make_app(audit_secret=after), "c0000000-0000-4000-8000-000000000042")
    keys = {r[0] for r in sql(db_url, "SELECT key_fingerprint FROM calls")}
    assert keys == {fingerprint(before.encode()), fingerprint(after.encode())}
    capsys.readouterr()
    assert main(["report"]) == 0
    table = capsys.readouterr().out
    assert "made with 2 audit keys" in table and all(k in table for k in keys)
    assert main(["report", "--format", "json"]) == 0
    reported = json.loads(capsys.readouterr().out)["auditKeys"]
    assert {k["fingerprint"] for k in reported} == keys and sum(k["calls"] for k in reported) == 2

    token = "t" * 40
    page = (
        make_app(audit_secret=after, admin_token=token)
        .test_client()
        .get("/admin/report?since=2000-01-01&until=2100-01-01", headers={"Authorization": f"Bearer {token}"})
    )
    assert page.status_code == 200
    assert "made with 2 audit keys" in page.get_data(as_text=True)

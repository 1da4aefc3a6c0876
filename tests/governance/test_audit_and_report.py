"""Every card returned and every silent card is recorded, without patient data; feedback
joins by card uuid; `cds report` gives the figures of a known set of calls and feedback."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from cds.cli import main
from tests.governance.conftest import fixture, request_for

WORKUP, B12_TEST, MG_TEST = "twitching-workup", "b12-testing-recommended", "magnesium-testing-recommended"
SCREEN = "deficiency-screen"
AppFactory = Callable[..., Flask]


def rows(db_url: str, table: str) -> list[dict[str, Any]]:
    with create_engine(db_url).connect() as conn:
        return [dict(r) for r in conn.execute(text(f"SELECT * FROM {table}")).mappings()]


def call(client: FlaskClient, name: str, hook_instance: str) -> list[dict[str, Any]]:
    response = client.post(f"/cds-services/{fixture(name).service}", json=request_for(name, hook_instance))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["cards"]


def by_topic(cards: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["source"]["topic"]["code"]: c for c in cards}


def send_feedback(client: FlaskClient, items: list[dict[str, Any]], service: str = SCREEN) -> None:
    response = client.post(f"/cds-services/{service}/feedback", json={"feedback": items})
    assert response.status_code == 200, response.get_json()


def item(card: str, outcome: str, minute: int = 0, **extra: Any) -> dict[str, Any]:
    return {"card": card, "outcome": outcome, "outcomeTimestamp": f"2026-10-15T10:{minute:02d}:00Z", **extra}


def test_shown_and_silent_cards_are_recorded_off_ones_not(make_app: AppFactory, db_url: str) -> None:
    client = make_app(topic_modes={WORKUP: "silent", MG_TEST: "off"}).test_client()
    shown = call(client, "twitching-ppi-atc-no-labs", "11111111-1111-4111-8111-111111111111")
    assert [c["source"]["topic"]["code"] for c in shown] == [B12_TEST]
    audit = {r["topic"]: r for r in rows(db_url, "card_audit")}
    assert set(audit) == {B12_TEST, WORKUP}  # the off topic is not recorded
    assert audit[B12_TEST]["mode"] == "active" and audit[WORKUP]["mode"] == "silent"
    assert audit[B12_TEST]["card_uuid"] == shown[0]["uuid"]
    assert json.loads(audit[B12_TEST]["suggestion_uuids"]) == [s["uuid"] for s in shown[0]["suggestions"]]
    assert audit[B12_TEST]["hook_instance"] == "11111111-1111-4111-8111-111111111111"
    assert audit[B12_TEST]["service"] == SCREEN and audit[B12_TEST]["indicator"] == "info"
    [logged] = rows(db_url, "calls")
    assert (logged["cards"], logged["silent"]) == (1, 1)


def test_the_audit_keeps_a_keyed_pseudonym_and_no_patient_data(make_app: AppFactory, db_url: str) -> None:
    client = make_app(audit_secret="site-secret").test_client()
    call(client, "b12-deficiency-metformin-older-adult", "22222222-2222-4222-8222-222222222222")
    patient = fixture("b12-deficiency-metformin-older-adult").request["context"]["patientId"]
    expected = hmac.new(b"site-secret", patient.encode(), hashlib.sha256).hexdigest()
    audit = rows(db_url, "card_audit")
    assert audit and {r["patient_key"] for r in audit} == {expected}
    stored = json.dumps(audit, default=str)
    assert patient not in stored
    for word in ("pg/mL", "ng/L", "Metformin", "metformin"):  # no values, no medicines, no names
        assert word not in stored


def test_generated_secret_is_kept_so_keys_are_stable_across_restarts(
    make_app: AppFactory, db_url: str, tmp_path: Path
) -> None:
    b12 = "b12-deficiency-metformin-older-adult"
    call(make_app().test_client(), "empty-chart", "33333333-3333-4333-8333-333333333331")
    call(make_app().test_client(), b12, "33333333-3333-4333-8333-333333333332")
    call(make_app().test_client(), b12, "33333333-3333-4333-8333-333333333333")
    keys = {r["patient_key"] for r in rows(db_url, "card_audit")}
    assert len(keys) == 1  # two restarts, one patient, one key
    assert rows(db_url, "site_secret") == []  # kept in a file of data_dir, never in the database
    assert (tmp_path / "data" / "audit-key").is_file()


def test_queued_records_are_written_by_the_background_writer(make_app: AppFactory, db_url: str) -> None:
    app = make_app(audit_flush_s=3600)
    b12 = "b12-deficiency-metformin-older-adult"
    cards = call(app.test_client(), b12, "44444444-4444-4444-8444-444444444444")
    assert cards and rows(db_url, "card_audit") == []  # not on the clinician's path
    app.extensions["cds"].audit.close()  # what gunicorn's worker_exit hook does
    assert {r["card_uuid"] for r in rows(db_url, "card_audit")} == {c["uuid"] for c in cards}


def report(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db_url: str,
           *args: str, **env: str) -> str:  # fmt: skip
    monkeypatch.setenv("CDS_DATABASE_URL", db_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["report", *args]) == 0
    return capsys.readouterr().out


def test_report_figures_for_a_known_set_of_calls_and_feedback(
    make_app: AppFactory, db_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    client = make_app(topic_modes={WORKUP: "silent"}).test_client()
    h1 = by_topic(call(client, "twitching-ppi-atc-no-labs", "a0000000-0000-4000-8000-000000000001"))
    h1_again = by_topic(call(client, "twitching-ppi-atc-no-labs", "a0000000-0000-4000-8000-000000000001"))
    assert h1_again == h1  # the EHR retried the same call: same card uuids, recorded once
    h2 = by_topic(call(client, "twitching-ppi-atc-no-labs", "a0000000-0000-4000-8000-000000000002"))
    assert call(client, "empty-chart", "a0000000-0000-4000-8000-000000000003") == []  # answered, no cards
    h4 = call(client, "b12-deficiency-metformin-older-adult", "a0000000-0000-4000-8000-000000000004")
    assert set(h1) == {B12_TEST, MG_TEST}
    workup_uuid = next(r["card_uuid"] for r in rows(db_url, "card_audit") if r["topic"] == WORKUP)

    b12_suggestion = h1[B12_TEST]["suggestions"][0]["uuid"]
    reason = {"reason": {"code": "already-ordered", "system": "https://myelin-cds.github.io/override-reasons"},
              "userComment": "ordered yesterday for Ms Example"}  # fmt: skip
    send_feedback(client, [
        item(h1[B12_TEST]["uuid"], "accepted", acceptedSuggestions=[{"id": b12_suggestion}]),
        item(h1[MG_TEST]["uuid"], "overridden", overrideReason=reason),
        item(h2[MG_TEST]["uuid"], "overridden", 1, overrideReason=reason),
    ])  # fmt: skip
    send_feedback(client, [item(h2[MG_TEST]["uuid"], "overridden", 1, overrideReason=reason)])  # repeated
    mg_suggestion = [{"id": h2[MG_TEST]["suggestions"][0]["uuid"]}]
    send_feedback(client, [item(h2[MG_TEST]["uuid"], "accepted", 9, acceptedSuggestions=mg_suggestion)])
    send_feedback(client, [item("0b7c1f0e-0000-4000-8000-00000000dead", "accepted",  # never issued
                                acceptedSuggestions=[{"id": "x"}]),
                           item(workup_uuid, "overridden")])  # silent: never shown  # fmt: skip
    assert len(rows(db_url, "feedback")) == 6  # every item stored, the repeated one once

    period = ("--since", "2026-10-01", "--until", "2026-10-31")
    modes = json.dumps({WORKUP: "silent"})
    data = json.loads(report(monkeypatch, capsys, db_url, "--format", "json", *period, CDS_TOPIC_MODES=modes))
    assert data["calls"] == 4 and data["unmatchedFeedback"] == 2
    topics = {t["topic"]: t for t in data["topics"]}
    b12 = topics[B12_TEST]
    counts = (b12["shown"], b12["silent"], b12["accepted"], b12["overridden"], b12["noFeedback"])
    assert counts == (2, 0, 1, 0, 1)
    assert b12["acceptedSuggestions"] == {h1[B12_TEST]["suggestions"][0]["label"]: 1}
    assert (b12["acceptanceRate"], b12["overrideRate"]) == (0.5, 0.0)
    mg = topics[MG_TEST]
    assert (mg["shown"], mg["accepted"], mg["overridden"]) == (2, 1, 1)
    assert mg["overrideReasons"] == {"already-ordered": 1}
    workup = topics[WORKUP]
    assert (workup["shown"], workup["silent"], workup["mode"]) == (0, 2, "silent")
    assert workup["firingRate"] == 0.5  # 2 silent cards over 4 calls
    assert (workup["silentCalls"], workup["silentCallShare"]) == (2, 0.5)  # would have shown on 2 of 4
    deficiency = topics["b12-deficiency"]
    assert deficiency["shown"] == len(h4) and deficiency["accepted"] == 0
    assert deficiency["overrideReasons"] == {}
    assert "Ms Example" not in json.dumps(data)  # the clinician's comment is never reported

    # a period before the calls has none of them
    empty = json.loads(report(monkeypatch, capsys, db_url, "--format", "json", "--until", "2026-10-14"))
    assert empty["calls"] == 0 and empty["topics"] == []

    table = report(monkeypatch, capsys, db_url, "--service", SCREEN)
    assert "Calls answered: 4" in table and "already-ordered=1" in table
    assert "2 (50%)" in next(line for line in table.splitlines() if WORKUP in line and "silent" in line)
    rows_csv = {r["topic"]: r for r in csv.DictReader(io.StringIO(report(monkeypatch, capsys, db_url,
                                                                         "--format", "csv")))}  # fmt: skip
    assert rows_csv[MG_TEST]["overridden"] == "1" and rows_csv[WORKUP]["silent"] == "2"
    assert rows_csv[WORKUP]["silentCalls"] == "2" and rows_csv[WORKUP]["silentCallShare"] == "0.5"

    one = json.loads(report(monkeypatch, capsys, db_url, "--format", "json", "--topic", MG_TEST))
    assert one["topic"] == MG_TEST and [t["topic"] for t in one["topics"]] == [MG_TEST]
    assert sum(w["shown"] for w in one["weeks"]) == 2 and one["calls"] == 4
    assert main(["report", "--topic", "magnesium-test"]) == 2
    assert "unknown topic 'magnesium-test'" in capsys.readouterr().err


def test_retention_purges_old_cards_feedback_and_calls(make_app: AppFactory, db_url: str) -> None:
    client = make_app().test_client()
    cards = call(client, "b12-deficiency-metformin-older-adult", "55555555-5555-4555-8555-555555555555")
    send_feedback(client, [item(cards[0]["uuid"], "overridden")])
    assert rows(db_url, "card_audit") and rows(db_url, "feedback") and rows(db_url, "calls")
    # A year later the records are kept with the default of two years...
    recorder = make_app().extensions["cds"].audit
    assert recorder.purge_expired(fixture("empty-chart").now + timedelta(days=365)).cards == 0
    assert rows(db_url, "card_audit")
    # ...and a service started 100 days on with a 90-day retention deletes them at start-up.
    later = fixture("empty-chart").now + timedelta(days=100)
    from cds.config import load_settings
    from cds.server.wsgi import build_app

    build_app(load_settings(environ={}, database_url=db_url, retention_days=90, preview_enabled=False),
              clock=lambda: later)  # fmt: skip
    assert rows(db_url, "card_audit") == [] and rows(db_url, "feedback") == [] and rows(db_url, "calls") == []


@pytest.mark.parametrize("command", [["report"], ["db", "purge"]])
def test_a_missing_configuration_file_is_one_line_and_exit_2(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.toml"
    assert main([*command, "--config", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"cds {' '.join(command)}: config file {missing}: No such file or directory"]

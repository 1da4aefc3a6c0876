"""Reports across a change of the rules: every figure split by knowledge version, the week the new
version took effect marked, one version selected with --version, and records kept before
versions were shown as unversioned."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds.change.version import knowledge_version
from cds.cli import main
from cds.governance.figures import week_start
from cds.schemas import validator_for
from cds.store.audit import CardAudit, CardAuditRow
from cds.store.governance import CallRow, record_calls
from tests.governance.conftest import request_for

B12 = "b12-deficiency-metformin-older-adult"
TOKEN = "committee-token-6b1d-0123456789abcdef"  # at least 32 characters
LOWER = {"b12_total_deficient": 150}


@pytest.fixture
def switched(make_app: Callable[..., Flask], db_url: str) -> dict[str, Any]:
    """Old unversioned records, three calls under the reviewed rules, then the switch to a lower
    B12 cut-off a week later and two calls under it."""
    before = make_app(admin_token=TOKEN)
    now = before.extensions["cds"].clock()
    db = before.extensions["cds"].database
    CardAudit(db).record(
        [
            CardAuditRow(
                "old-card",
                "deficiency-screen",
                "b12-deficiency",
                "warning",
                "old-call",
                now - timedelta(days=30),
                "k",
                "active",
                "[]",
                "{}",
            )
        ]
    )
    record_calls(db, [CallRow("deficiency-screen", "old-call", now - timedelta(days=30), 1, 0)])
    client = before.test_client()
    for i in range(3):
        assert (
            client.post(
                "/cds-services/deficiency-screen",
                json=request_for(B12, f"a1000000-0000-4000-8000-00000000000{i}"),
            ).status_code
            == 200
        )

    later = now + timedelta(days=7)
    after = make_app(admin_token=TOKEN, cutoff_overrides=LOWER, knowledge_label="2027-01 lab assay change")
    after.extensions["cds"].clock = lambda: later
    client = after.test_client()
    for i in range(2):
        assert (
            client.post(
                "/cds-services/deficiency-screen",
                json=request_for(B12, f"b1000000-0000-4000-8000-00000000000{i}"),
            ).status_code
            == 200
        )
    return {
        "old": knowledge_version(before.extensions["cds"].settings).version,
        "new": knowledge_version(after.extensions["cds"].settings).version,
        "now": now,
        "later": later,
        "app": after,
    }


def report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db_url: str, *args: str
) -> Any:
    monkeypatch.setenv("CDS_DATABASE_URL", db_url)
    monkeypatch.setenv("CDS_CUTOFF_OVERRIDES", json.dumps(LOWER))
    capsys.readouterr()
    code = main(["report", "--since", "2026-01-01", "--until", "2027-12-31", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_figure_is_split_by_version_and_the_switch_is_marked(
    switched: dict[str, Any], db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = report(monkeypatch, capsys, db_url, "--format", "json")
    data = json.loads(out)
    assert code == 0 and [e.message for e in validator_for("report").iter_errors(data)] == []
    assert data["knowledgeVersion"] == {"version": switched["new"]}  # this configuration: no label in env
    versions = {v["version"]: v for v in data["versions"]}
    assert [v["version"] for v in data["versions"]] == [None, switched["old"], switched["new"]]
    assert [versions[v]["calls"] for v in (None, switched["old"], switched["new"])] == [1, 3, 2]
    assert versions[switched["new"]]["label"] == "2027-01 lab assay change"
    assert versions[switched["new"]]["tookEffect"] and versions[switched["old"]]["tookEffect"]
    deficiency = {
        v: next(t for t in versions[v]["topics"] if t["topic"] == "b12-deficiency") for v in versions
    }
    assert [deficiency[v]["shown"] for v in (None, switched["old"], switched["new"])] == [1, 3, 2]
    assert sum(t["shown"] for t in data["topics"] if t["topic"] == "b12-deficiency") == 6  # all together
    marked = {w["start"]: w["newVersions"] for w in data["weeks"] if w["newVersions"]}
    assert marked == {
        str(week_start(switched["now"])): [switched["old"]],
        str(week_start(switched["later"])): [switched["new"]],
    }

    code, out, _ = report(monkeypatch, capsys, db_url)
    assert code == 0 and "By knowledge version" in out
    assert f"{switched['new']} (2027-01 lab assay change): 2 calls, took effect" in out
    assert "unversioned: 1 calls, kept before versions were recorded" in out


@pytest.mark.parametrize(("which", "calls"), [("old", 3), ("new", 2), ("unversioned", 1)])
def test_one_version_alone(
    switched: dict[str, Any],
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    which: str,
    calls: int,
) -> None:
    version = switched.get(which, which)
    code, out, _ = report(monkeypatch, capsys, db_url, "--format", "json", "--version", version)
    data = json.loads(out)
    assert code == 0 and data["version"] == version and data["calls"] == calls
    assert sum(t["shown"] for t in data["topics"]) == sum(
        t["shown"] for v in data["versions"] for t in v["topics"]
    )
    assert len(data["versions"]) == 1


def test_an_unknown_version_is_refused_naming_it(
    switched: dict[str, Any], db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = report(monkeypatch, capsys, db_url, "--version", "0123456789ab")
    assert code == 2 and "unknown knowledge version '0123456789ab'" in err and switched["new"] in err
    client = switched["app"].test_client()
    answer = client.get("/admin/report?version=0123456789ab", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 400
    assert "unknown knowledge version" in answer.get_json()["issue"][0]["diagnostics"]


def test_the_dashboard_splits_by_version_and_marks_the_switch(switched: dict[str, Any]) -> None:
    client = switched["app"].test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    page = client.get("/admin/report?since=2026-01-01&until=2027-12-31", headers=auth).get_data(as_text=True)
    assert "<h2>By knowledge version</h2>" in page
    assert (
        f"?since=2026-01-01&amp;until=2027-12-31&amp;version={switched['new']}" in page
    )  # the version's own view
    assert f"▼ {switched['new']}</text>" in page and f"▼ {switched['old']}</text>" in page  # on the trend
    assert f"rules now: knowledge version <code>{switched['new']}</code> (2027-01 lab assay change)" in page
    one = client.get(
        f"/admin/report?since=2026-01-01&until=2027-12-31&version={switched['old']}", headers=auth
    )
    text = one.get_data(as_text=True)
    assert one.status_code == 200 and f"knowledge version <code>{switched['old']}</code>" in text
    assert "<b>3</b><span>calls answered</span>" in text
    as_json = client.get(
        "/admin/report?since=2026-01-01&until=2027-12-31&version=unversioned&format=json", headers=auth
    )
    assert as_json.get_json()["calls"] == 1


def test_old_rows_migrate_to_unversioned(tmp_path: Path) -> None:
    """A database at revision 0002 with records keeps them, their version NULL, read as unversioned."""
    from alembic import command
    from sqlalchemy import text

    from cds.config import load_settings
    from cds.store.database import _alembic_config, create_database_engine

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = create_database_engine(url)
    with engine.begin() as conn:
        config = _alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        conn.execute(
            text("INSERT INTO calls VALUES ('deficiency-screen', 'h1', '2026-10-01 10:00:00', 0, 0)")
        )
    engine.dispose()
    from cds.store.database import open_database

    db = open_database(load_settings(environ={}, database_url=url))  # migrates to the head
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT knowledge_version FROM calls")).scalars().all() == [None]
    from cds.governance.report_query import load_report

    loaded = load_report(db, load_settings(environ={}), since=None, until=None)
    assert [(v.version, v.calls) for v in loaded.versions] == [(None, 1)]

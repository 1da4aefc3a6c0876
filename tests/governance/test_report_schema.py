"""The JSON report is a contract: `cds report --format json` and /admin/report?format=json
validate against src/cds/schemas/report.json, and the schema refuses output that breaks it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator

from cds.cli import main
from cds.schemas import load_schema, validator_for
from tests.governance.conftest import ROOT, fixture
from tests.governance.seed import SILENT_TOPIC, seed

TOKEN = "committee-token-6b1d-0123456789abcdef"  # at least 32 characters


def cli_report(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db_url: str,
               *args: str) -> dict[str, Any]:  # fmt: skip
    monkeypatch.setenv("CDS_DATABASE_URL", db_url)
    monkeypatch.setenv("CDS_TOPIC_MODES", json.dumps({SILENT_TOPIC: "silent"}))
    capsys.readouterr()
    assert main(["report", "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def errors(document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator_for("report").iter_errors(document)]


@pytest.fixture
def seeded(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(admin_token=TOKEN, topic_modes={SILENT_TOPIC: "silent"})
    seed(app.extensions["cds"].database, fixture("empty-chart").now)
    return app


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(load_schema("report"))


def test_cds_report_json_follows_the_schema(
    seeded: Flask, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    full = cli_report(monkeypatch, capsys, db_url)
    assert errors(full) == []
    assert len(full["topics"]) == 5 and full["weeks"]  # every part of it was there to check
    modes = {t["topic"]: t["mode"] for t in full["topics"]}
    assert modes[SILENT_TOPIC] == "silent"
    assert any(t["overrideReasons"] for t in full["topics"])
    for args in (("--topic", SILENT_TOPIC), ("--since", "2026-10-08", "--until", "2026-10-14"),
                 ("--until", "2020-01-01"), ("--service", "deficiency-order-sign")):  # fmt: skip
        assert errors(cli_report(monkeypatch, capsys, db_url, *args)) == [], args


def test_the_dashboards_json_follows_the_schema(seeded: Flask) -> None:
    client = seeded.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for query in ("format=json", f"format=json&topic={SILENT_TOPIC}", "format=json&until=2020-01-01"):
        response = client.get(f"/admin/report?{query}", headers=auth)
        assert response.status_code == 200 and errors(response.get_json()) == [], query


@pytest.mark.parametrize(
    ("breakage", "where"),
    [
        (lambda r: r.pop("calls"), "calls"),
        (lambda r: r["topics"][0].pop("overrideReasons"), "overrideReasons"),
        (lambda r: r["topics"][0].update(shown="96"), "shown"),
        (lambda r: r["topics"][0].update(overrideReasons={"already-ordered": "many"}), "already-ordered"),
        (lambda r: r["topics"][0].update(overrideRate=1.5), "overrideRate"),
        (lambda r: r["topics"][0].update(mode="paused"), "mode"),
        (lambda r: r.update(since="last week"), "since"),
        (lambda r: r["weeks"][0].pop("overridden"), "overridden"),
    ],
)
def test_the_schema_refuses_a_broken_report(
    seeded: Flask, breakage: Callable[[dict[str, Any]], Any], where: str
) -> None:
    client = seeded.test_client()
    report = client.get("/admin/report?format=json", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    broken = copy.deepcopy(report)
    breakage(broken)
    found = errors(broken)
    assert found and where in " ".join(found)


def test_the_documented_example_follows_the_schema() -> None:
    text = (ROOT / "docs" / "governance.md").read_text(encoding="utf-8")
    example = text.split("An example:\n\n```json\n", 1)[1].split("\n```", 1)[0]
    document = json.loads(example)
    assert errors(document) == []
    assert set(document["topics"][0]) >= set(load_schema("report")["$defs"]["topic"]["required"])

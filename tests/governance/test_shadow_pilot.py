"""A shadow pilot assesses every call under a candidate configuration, off the clinician's path:
the clinician's answers stay byte for byte what they were, the comparison names exactly the
calls whose answer would change, and the pilot starts, changes and stops with its file."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from cds.answer.handlers import HANDLERS
from cds.change.candidate import candidate_settings
from cds.cli import main
from cds.config import Settings, load_settings
from cds.governance import shadow as shadow_module
from cds.http.app import create_app
from cds.services.call import HookCall
from cds.services.response import Answer
from cds.tools.fixtures import Fixture, list_fixtures
from tests.governance.conftest import ROOT

ADMIN_TOKEN = "committee-token-6b1d-0123456789abcdef"  # at least 32 characters

FIXTURES = list_fixtures(ROOT / "fixtures")
LOWER_B12 = 'knowledge_label = "lower B12 cut-off"\n[cutoff_overrides]\nb12_total_deficient = 150\n'
B12 = "b12-deficiency-metformin-older-adult"


def hook_instance(index: int) -> str:
    return f"5a000000-0000-4000-8000-{index:012d}"


def request_of(fixture: Fixture, index: int) -> dict[str, Any]:
    body = copy.deepcopy(fixture.request)
    body["hookInstance"] = hook_instance(index)
    return body


class Service:
    """The app, called in process with its clock at each fixture's now."""

    def __init__(self, settings: Settings, handlers: dict[str, Any] | None = None) -> None:
        self.now = [FIXTURES[0].now]
        self.app: Flask = create_app(settings, handlers=handlers, clock=lambda: self.now[0])
        self.client = self.app.test_client()

    def call(self, fixture: Fixture, index: int) -> Any:
        self.now[0] = fixture.now
        return self.client.post(f"/cds-services/{fixture.service}", json=request_of(fixture, index))

    @property
    def pilot(self) -> Any:
        return self.app.extensions["cds"].audit.shadow


def rows(url: str, sql: str) -> list[dict[str, Any]]:
    with create_engine(url).connect() as conn:
        return [dict(r) for r in conn.execute(text(sql)).mappings()]


@pytest.fixture
def candidate(tmp_path: Path) -> Path:
    path = tmp_path / "candidate.toml"
    path.write_text(LOWER_B12, encoding="utf-8")
    return path


def settings_for(url: str, **values: Any) -> Settings:
    values = {"log_level": "WARNING", "audit_flush_s": 0, "preview_enabled": False, **values}
    return load_settings(environ={}, database_url=url, **values)


def _unversioned(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "extension"} for c in cards]


def test_the_clinicians_answers_are_byte_identical_with_the_pilot_on_and_off(
    tmp_path: Path, candidate: Path
) -> None:
    off = Service(settings_for(f"sqlite:///{tmp_path / 'off.sqlite3'}"))
    on = Service(settings_for(f"sqlite:///{tmp_path / 'on.sqlite3'}", shadow_config=str(candidate)))
    answered = 0
    for index, fixture in enumerate(FIXTURES):
        without, with_pilot = off.call(fixture, index), on.call(fixture, index)
        assert with_pilot.status_code == without.status_code, fixture.name
        assert with_pilot.data == without.data, fixture.name
        assert with_pilot.headers["Content-Type"] == without.headers["Content-Type"]
        answered += with_pilot.status_code == 200
    on.pilot.flush()
    assessed = rows(f"sqlite:///{tmp_path / 'on.sqlite3'}", "SELECT * FROM shadow_calls")
    assert len(assessed) == answered == len(FIXTURES)  # the pilot did run on every call


def _changed_fixtures(live: Settings, candidate_live: Settings) -> set[str]:
    """The fixtures whose answer differs between the two configurations, each run live on its own."""
    a, b = Service(live), Service(candidate_live)
    changed = set()
    for index, fixture in enumerate(FIXTURES):
        if _unversioned(a.call(fixture, index).get_json()["cards"]) != _unversioned(
            b.call(fixture, index).get_json()["cards"]
        ):
            changed.add(fixture.name)
    return changed


def test_a_lower_b12_cutoff_piloted_reports_exactly_the_calls_whose_answer_would_change(
    tmp_path: Path, candidate: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    live = settings_for(url, shadow_config=str(candidate))
    expected = _changed_fixtures(
        settings_for("sqlite://"), settings_for("sqlite://", cutoff_overrides={"b12_total_deficient": 150})
    )
    assert 0 < len(expected) < len(FIXTURES)  # the change matters, and not everywhere

    service = Service(live)
    for index, fixture in enumerate(FIXTURES):
        assert service.call(fixture, index).status_code == 200
    service.pilot.flush()
    by_hook = {hook_instance(i): f.name for i, f in enumerate(FIXTURES)}
    flagged = rows(url, "SELECT hook_instance FROM shadow_calls WHERE changed = 1")
    assert {by_hook[r["hook_instance"]] for r in flagged} == expected

    monkeypatch.setenv("CDS_DATABASE_URL", url)
    capsys.readouterr()
    assert main(["report", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [pilot] = report["shadow"]
    assert (pilot["calls"], pilot["changedCalls"], pilot["label"]) == (
        len(FIXTURES),
        len(expected),
        "lower B12 cut-off",
    )
    assert pilot["liveVersions"] == [report["knowledgeVersion"]["version"]]
    topics = {(t["service"], t["topic"]): t for t in pilot["topics"]}
    deficiency = topics[("deficiency-screen", "b12-deficiency")]
    assert deficiency["disappear"] >= 1 and deficiency["changedCalls"] >= deficiency["disappear"]
    magnesium = topics[("deficiency-screen", "hypomagnesemia")]
    assert magnesium["changedCalls"] == 0 and magnesium["liveCalls"] == magnesium["candidateCalls"] > 0

    capsys.readouterr()
    assert main(["report"]) == 0
    table = capsys.readouterr().out
    assert f"the answer would change on {len(expected)} (" in table
    assert "b12-deficiency" in table.split("Shadow pilot of", 1)[1]


def test_the_candidate_is_assessed_on_another_thread_after_the_answer(
    tmp_path: Path, candidate: Path
) -> None:
    threads: list[tuple[str, str]] = []

    def watched(call: HookCall) -> Answer:
        threads.append((call.settings.knowledge_label, threading.current_thread().name))
        return HANDLERS["guideline"](call)

    url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    service = Service(
        settings_for(url, shadow_config=str(candidate), audit_flush_s=3600),
        handlers={**HANDLERS, "guideline": watched},
    )
    fixture = next(f for f in FIXTURES if f.name == B12)
    assert service.call(fixture, 1).status_code == 200
    assert threads == [("", threading.current_thread().name)]  # the live answer, on the caller's thread
    deadline = time.monotonic() + 30
    while len(threads) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threads[1] == ("lower B12 cut-off", "shadow-pilot")  # the candidate, on the pilot's own
    assert rows(url, "SELECT * FROM shadow_calls") == []  # written in batches, not per call
    service.pilot.close()  # what a worker does when it exits
    assert len(rows(url, "SELECT * FROM shadow_calls")) == 1


def test_the_pilot_starts_changes_and_stops_with_its_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    path = tmp_path / "candidate.toml"
    service = Service(settings_for(url, shadow_config=str(path)))
    discovery = service.client.get("/cds-services").data
    fixture = next(f for f in FIXTURES if f.name == B12)

    def step(index: int) -> list[str]:
        assert service.call(fixture, index).status_code == 200
        service.pilot.refresh()
        service.pilot.flush()
        return sorted({r["candidate_version"] for r in rows(url, "SELECT * FROM shadow_calls")})

    assert step(1) == []  # no file yet: no pilot
    path.write_text(LOWER_B12, encoding="utf-8")
    service.pilot.refresh()
    first = step(2)
    assert len(first) == 1
    path.write_text("[cutoff_overrides]\nb12_total_deficient = 120\n", encoding="utf-8")
    service.pilot.refresh()
    second = step(3)
    assert len(second) == 2 and first[0] in second  # a new candidate, its own records
    path.unlink()
    service.pilot.refresh()
    assert step(4) == second and len(rows(url, "SELECT * FROM shadow_calls")) == 2  # stopped
    assert service.client.get("/cds-services").data == discovery  # the EHR sees nothing change
    labels = {r["version"]: r["label"] for r in rows(url, "SELECT * FROM knowledge_versions")}
    assert sorted(v for v, label in labels.items() if label == "lower B12 cut-off") == first


def test_a_call_answered_before_the_candidate_was_written_is_not_piloted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pilot's thread never finds a quiet moment here: every call waits for the flush, as
    # on a busy worker, so the first call is assessed after the file is there.
    monkeypatch.setattr("cds.governance.shadow.QUIET_S", 3600.0)
    url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    path = tmp_path / "candidate.toml"
    service = Service(settings_for(url, shadow_config=str(path)))
    fixture = next(f for f in FIXTURES if f.name == B12)
    assert service.call(fixture, 1).status_code == 200  # queued while no candidate exists
    path.write_text(LOWER_B12, encoding="utf-8")  # written before the queued call is assessed
    assert service.call(fixture, 2).status_code == 200
    service.pilot.refresh()
    service.pilot.flush()
    piloted = [r["hook_instance"] for r in rows(url, "SELECT * FROM shadow_calls")]
    assert len(piloted) == 1  # the second call only: writing the file starts the pilot


def test_an_unusable_candidate_pauses_the_pilot_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    path = tmp_path / "candidate.toml"
    path.write_text("[cutoff_overrides]\nb12_total_deficient = 400\n", encoding="utf-8")  # above the upper
    service = Service(settings_for(url, shadow_config=str(path)))
    with caplog.at_level(logging.ERROR, logger="cds"):
        assert service.call(next(f for f in FIXTURES if f.name == B12), 1).status_code == 200
        service.pilot.flush()
    assert rows(url, "SELECT * FROM shadow_calls") == []
    [record] = [r for r in caplog.records if r.getMessage().startswith("shadow pilot: paused")]
    assert "b12_total_deficient" in record.fields["problem"]  # type: ignore[attr-defined]


def test_a_full_queue_leaves_calls_out_of_the_pilot_and_answers_them(
    tmp_path: Path, candidate: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(shadow_module, "QUEUE_CALLS", 1)
    started, release = threading.Event(), threading.Event()

    def slow(call: HookCall) -> Answer:
        if call.settings.knowledge_label:  # the candidate: hold the pilot's thread
            started.set()
            release.wait(30)
        return HANDLERS["guideline"](call)

    url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    service = Service(
        settings_for(url, shadow_config=str(candidate)), handlers={**HANDLERS, "guideline": slow}
    )
    fixture = next(f for f in FIXTURES if f.name == B12)
    assert service.call(fixture, 1).status_code == 200
    assert started.wait(30)  # the thread is busy with call 1
    for index in range(2, 6):  # call 2 waits on the queue, 3 to 5 find it full
        assert service.call(fixture, index).status_code == 200
    release.set()
    with caplog.at_level(logging.WARNING, logger="cds"):
        service.pilot.close()
    assert len(rows(url, "SELECT * FROM shadow_calls")) == 2
    [left_out] = [
        r for r in caplog.records if r.getMessage() == "shadow pilot: calls left out, the queue was full"
    ]
    assert left_out.fields["calls"] == 3  # type: ignore[attr-defined]


def test_shadow_records_keep_only_the_pseudonym_and_follow_retention(tmp_path: Path, candidate: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    service = Service(settings_for(url, shadow_config=str(candidate), audit_secret="site-secret"))
    fixture = next(f for f in FIXTURES if f.name == B12)
    service.call(fixture, 1)
    service.pilot.flush()
    patient = fixture.request["context"]["patientId"]
    cards = rows(url, "SELECT * FROM shadow_cards")
    assert cards and {c["patient_key"] for c in cards} == {
        hmac.new(b"site-secret", patient.encode(), hashlib.sha256).hexdigest()
    }
    stored = json.dumps(rows(url, "SELECT * FROM shadow_calls") + cards, default=str)
    for word in (patient, "148", "ng/L", "metformin", "Metformin"):  # no id, values, medicines
        assert word not in stored
    audit = service.app.extensions["cds"].audit
    purged = audit.purge_expired(fixture.now + timedelta(days=729))
    assert purged.shadow_calls == 0 and rows(url, "SELECT * FROM shadow_cards")
    purged = audit.purge_expired(fixture.now + timedelta(days=731))
    assert purged.shadow_calls == 1
    assert rows(url, "SELECT * FROM shadow_calls") == [] and rows(url, "SELECT * FROM shadow_cards") == []


def test_the_candidate_is_the_live_settings_with_the_files_card_settings_on_top(tmp_path: Path) -> None:
    live = load_settings(
        environ={},
        port=9000,
        recent_months=6,
        topic_modes={"b12-elevated": "off"},
        knowledge_label="live rules",
    )
    path = tmp_path / "candidate.toml"
    path.write_text('port = 1234\nlog_level = "DEBUG"\n[cutoff_overrides]\nb12_total_deficient = 150\n')
    candidate = candidate_settings(live, str(path))
    assert candidate.cutoff_overrides == {"b12_total_deficient": 150.0}  # named: taken
    assert candidate.recent_months == 6 and candidate.topic_modes == {"b12-elevated": "off"}  # kept
    assert (candidate.port, candidate.log_level) == (9000, "INFO")  # not card settings: ignored
    assert candidate.knowledge_label == ""  # its own name, or none: never the live one's


ReportRun = Callable[..., dict[str, Any]]


@pytest.fixture
def piloted(tmp_path: Path, candidate: Path) -> Iterator[Service]:
    service = Service(
        settings_for(
            f"sqlite:///{tmp_path / 'cds.sqlite3'}", shadow_config=str(candidate), admin_token=ADMIN_TOKEN
        )
    )
    for index, fixture in enumerate(FIXTURES):
        service.call(fixture, index)
    yield service


def test_the_dashboard_shows_the_pilots_comparison(piloted: Service) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    data = piloted.client.get(
        "/admin/report?since=2020-01-01&until=2030-01-01&format=json", headers=auth
    ).get_json()
    [pilot] = data["shadow"]  # the page read the pilot's queued calls too
    page = piloted.client.get("/admin/report?since=2020-01-01&until=2030-01-01", headers=auth).get_data(
        as_text=True
    )
    assert f"Shadow pilot: candidate <code>{pilot['candidate']}</code> (lower B12 cut-off)" in page
    assert f"<b>{pilot['calls']}</b><span>calls assessed</span>" in page
    assert f"<b>{pilot['changedCalls']} (" in page and 'aria-label="Cards that would change"' in page
    assert "<script" not in page

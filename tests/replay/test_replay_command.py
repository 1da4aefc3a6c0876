"""`cds replay` end to end: exit codes, --update, --format json, directories, --url."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cds.cli import main
from cds.config import load_settings
from cds.http.app import create_app
from cds.services.call import HookCall
from cds.services.response import Answer, Card
from cds.tools.fixture_replay import run
from tests.in_thread import serve_in_thread

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SCENARIO = "twitching-no-labs"

STUB_CARD = {
    "uuid": "8f1b4b52-3c6e-5f0a-9d1e-2b7c4a6d8e90",
    "summary": "Low magnesium 0.42 mmol/L",
    "indicator": "critical",
    "detail": "| Test | Result |\n|---|---|\n| Magnesium | 0.42 mmol/L \\(below \\< 0.50\\) |",
    "source": {"label": "myelin-cds", "topic": {"system": "urn:test", "code": "hypomagnesemia"}},
    "suggestions": [
        {
            "label": "Order magnesium",
            "uuid": "0b6f2d1a-7c3e-5b4d-8e9f-1a2b3c4d5e6f",
            "actions": [
                {
                    "type": "create",
                    "description": "Order magnesium",
                    "resource": {
                        "resourceType": "ServiceRequest",
                        "code": {"coding": [{"system": "http://loinc.org", "code": "2601-3"}]},
                    },
                }
            ],
        }
    ],
}


def stub_handler(call: HookCall) -> Answer:
    """Answers with one known card, and records the 'now' each call was evaluated at."""
    CALLS.append(call)
    return Answer(cards=(msgspec.convert(STUB_CARD, Card),))


CALLS: list[HookCall] = []


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / f"{SCENARIO}.json", tmp_path / f"{SCENARIO}.json")
    return tmp_path


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replay in process against a handler with a known answer (independent of the engine)."""
    import cds.answer.handlers

    CALLS.clear()
    monkeypatch.setitem(cds.answer.handlers.HANDLERS, "guideline", stub_handler)


def golden_of(workdir: Path) -> dict[str, Any]:
    return json.loads((workdir / f"{SCENARIO}.expected.json").read_text())


def test_update_writes_the_golden_then_replay_passes(workdir: Path, stubbed: None) -> None:
    assert run([str(workdir)], update=True, out=io.StringIO()) == 0
    assert golden_of(workdir) == {
        "cards": [{"topic": "hypomagnesemia", "indicator": "critical", "suggestions": ["2601-3"]}]
    }
    out = io.StringIO()
    assert run([str(workdir / f"{SCENARIO}.json")], out=out) == 0
    text = out.getvalue()
    assert "PASS" in text and "[CRITICAL] Low magnesium 0.42 mmol/L" in text
    assert "Magnesium | 0.42 mmol/L (below < 0.50)" in text  # evidence table, condensed and unescaped
    assert "-> Order magnesium [2601-3]" in text
    assert "\033[" not in text  # no colour when the output is not a terminal


def test_the_clock_is_pinned_to_the_fixture_now(workdir: Path, stubbed: None) -> None:
    run([str(workdir)], update=True, out=io.StringIO())
    assert [c.now.isoformat() for c in CALLS] == ["2026-10-15T09:30:00+00:00"]


@pytest.mark.parametrize(
    ("golden_edit", "reported"),
    [
        (lambda c: c[0].update(indicator="warning"), "indicator expected warning, got critical"),
        (
            lambda c: c.append({"topic": "hypocalcemia", "indicator": "warning", "suggestions": []}),
            "missing card hypocalcemia",
        ),
        (lambda c: c[0]["suggestions"].clear(), "extra suggestion(s) 2601-3"),
    ],
    ids=["changed-indicator", "missing-card", "extra-suggestion"],
)
def test_a_mismatch_is_shown_and_exits_1(
    workdir: Path, stubbed: None, golden_edit: Any, reported: str
) -> None:
    run([str(workdir)], update=True, out=io.StringIO())
    golden = golden_of(workdir)
    golden_edit(golden["cards"])
    (workdir / f"{SCENARIO}.expected.json").write_text(json.dumps(golden))
    out = io.StringIO()
    assert run([str(workdir)], out=out) == 1
    assert "FAIL" in out.getvalue() and reported in out.getvalue()


def test_json_format_is_machine_readable(workdir: Path, stubbed: None) -> None:
    run([str(workdir)], update=True, out=io.StringIO())
    (workdir / f"{SCENARIO}.expected.json").write_text(json.dumps({"cards": []}))
    out = io.StringIO()
    assert run([str(workdir)], output_format="json", out=out) == 1
    report = json.loads(out.getvalue())
    assert report["passed"] == 0 and report["failed"] == 1
    result = report["results"][0]
    assert result["fixture"] == SCENARIO and result["ok"] is False
    assert result["differences"] == ["extra card hypomagnesemia (critical)"]
    assert result["cards"][0]["summary"] == STUB_CARD["summary"]


def test_missing_golden_is_a_mismatch(workdir: Path, stubbed: None) -> None:
    out = io.StringIO()
    assert run([str(workdir)], out=out) == 1
    assert "no golden file" in out.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file or directory"), ("{oops", "not valid JSON")],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "case.json"
    if content is not None:
        path.write_text(content)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def running_service() -> Iterator[str]:
    """The real app with the stub handler, served over HTTP on a free loopback port."""
    CALLS.clear()
    app = create_app(
        load_settings(environ={}, database_url="sqlite://", log_level="WARNING"),
        handlers={"guideline": stub_handler, "orders": stub_handler},
    )
    with serve_in_thread(app) as base:
        yield base


def test_replay_against_a_running_service(workdir: Path, running_service: str) -> None:
    (workdir / f"{SCENARIO}.expected.json").write_text(
        json.dumps(
            {"cards": [{"topic": "hypomagnesemia", "indicator": "critical", "suggestions": ["2601-3"]}]}
        )
    )
    out = io.StringIO()
    assert run([str(workdir)], url=running_service, out=out) == 0
    [call] = CALLS
    # The service runs on real time, so the scenario's dates moved with it: onset stays 14 days back.
    onset = call.request.prefetch["conditions"].as_json()["entry"][0]["resource"]["onsetDateTime"]
    assert date.fromisoformat(onset) == call.now.date() - timedelta(days=14)


def test_an_unreachable_service_is_a_usage_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(workdir), "--url", "http://127.0.0.1:9", "--timeout", "2"]) == 2
    assert "cannot reach" in capsys.readouterr().err


def test_show_cards_prints_every_card_as_sent(workdir: Path, running_service: str) -> None:
    (workdir / f"{SCENARIO}.expected.json").write_text(
        json.dumps(
            {"cards": [{"topic": "hypomagnesemia", "indicator": "critical", "suggestions": ["2601-3"]}]}
        )
    )
    out = io.StringIO()
    assert run([str(workdir)], url=running_service, show_cards=True, out=out) == 0
    text = out.getvalue()
    start = text.index("\n    [")
    end = text.index("\n    ]", start) + len("\n    ]")
    cards = json.loads(text[start:end])
    assert [c["source"]["topic"]["code"] for c in cards] == ["hypomagnesemia"]
    assert cards[0]["indicator"] == "critical" and cards[0]["summary"]
    plain = io.StringIO()
    run([str(workdir)], url=running_service, out=plain)
    assert '"summary"' not in plain.getvalue()

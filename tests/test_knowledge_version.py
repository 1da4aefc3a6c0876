"""The knowledge version changes when, and only when, something that changes a card changes; and
every place a card's rules must be traceable names it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from cds.change import version as change_version
from cds.change.version import knowledge_version
from cds.config import CARD_SETTINGS, DEPLOYMENT_SETTINGS, IssuerConfig, Settings, load_settings
from cds.http.app import create_app
from cds.knowledge import version as knowledge_files_version
from cds.knowledge.version import VERSION_LENGTH, canonical
from cds.logs import JsonFormatter
from cds.tools.fixtures import Fixture, list_fixtures

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = list_fixtures(ROOT / "fixtures")
VERSION_KEY = "io.github.myelin-cds.knowledge-version"

# One change per card setting that a site would make; each must change some card of the
# fixtures (test below), so a setting listed as changing cards really does.
CARD_CHANGES: dict[str, Any] = {
    "recent_months": 3,
    "cutoff_overrides": {"b12_total_deficient": 150},
    "topic_modes": {"twitching-workup": "silent"},
    "smart_client_id": "myelin-companion",
}


def _base() -> Settings:
    return load_settings(environ={}, database_url="sqlite://", log_level="WARNING")


def test_every_setting_is_declared_as_changing_cards_or_not() -> None:
    names = [f.name for f in fields(Settings)]
    undeclared = sorted(set(names) - set(CARD_SETTINGS) - set(DEPLOYMENT_SETTINGS))
    assert undeclared == [], "declare in config.py whether these settings change a card"
    assert set(CARD_SETTINGS).isdisjoint(DEPLOYMENT_SETTINGS)
    assert sorted(set(CARD_SETTINGS) | set(DEPLOYMENT_SETTINGS)) == sorted(names)  # no stale names


def _other_value(name: str, default: Any) -> Any:
    """A valid value of the setting other than its default, found from its type."""
    candidates: list[Any]
    if name == "issuers":
        candidates = [(IssuerConfig(iss="https://ehr.example.org", jwks_url="https://ehr.example.org/jwks"),)]
    elif isinstance(default, bool):
        candidates = [not default]
    elif isinstance(default, int):
        candidates = [default + 1, default - 1]
    elif isinstance(default, float):
        candidates = [default * 2, default + 0.5, default / 2]
    elif isinstance(default, tuple):
        candidates = [(*default, "https://fhir.example.org")]
    else:  # text, a choice, a URL, or none
        candidates = ["DEBUG", "jwt", "https://cds.example.org", f"{default}-other", "other"]
    for value in candidates:
        try:
            changed = getattr(_base().with_overrides(**{name: value}), name)
        except ValueError:
            continue
        if changed != default:
            return value
    raise AssertionError(f"give the test a valid other value for setting {name!r}")


@pytest.mark.parametrize("name", DEPLOYMENT_SETTINGS)
def test_a_setting_that_changes_no_card_leaves_the_version(name: str) -> None:
    base = _base()
    changed = base.with_overrides(**{name: _other_value(name, getattr(base, name))})
    assert knowledge_version(changed).version == knowledge_version(base).version


def test_the_log_level_leaves_the_version() -> None:
    base = _base()
    assert knowledge_version(base.with_overrides(log_level="DEBUG")) == knowledge_version(base)


@pytest.mark.parametrize("name", CARD_SETTINGS)
def test_a_setting_that_changes_cards_changes_the_version(name: str) -> None:
    assert name in CARD_CHANGES, f"give {name!r} an example change in CARD_CHANGES"
    base = _base()
    version = knowledge_version(base.with_overrides(**{name: CARD_CHANGES[name]})).version
    assert version != knowledge_version(base).version
    assert len(version) == VERSION_LENGTH and int(version, 16) >= 0


def _answers(settings: Settings) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    now = [FIXTURES[0].now]
    client = create_app(settings, clock=lambda: now[0]).test_client()
    for fixture in FIXTURES:
        now[0] = fixture.now
        cards = (
            client.post(f"/cds-services/{fixture.service}", json=fixture.request).get_json().get("cards", [])
        )
        yield fixture.name, [{k: v for k, v in c.items() if k != "extension"} for c in cards]


@pytest.mark.parametrize("name", CARD_SETTINGS)
def test_each_card_setting_does_change_a_card_of_the_fixtures(name: str) -> None:
    base = dict(_answers(_base()))
    changed = dict(_answers(_base().with_overrides(**{name: CARD_CHANGES[name]})))
    assert any(changed[n] != base[n] for n in base), f"{name} changed no card: it is not a card setting"


@pytest.mark.parametrize(
    "same",
    [
        {"cutoff_overrides": {"b12_total_deficient": 180}},  # the reviewed value itself
        {"cutoff_overrides": {"b12_total_deficient": 180.0}},
        {"topic_modes": {"twitching-workup": "active"}},  # the default mode, spelled out
        {"knowledge_label": "2027-01 lab assay change"},  # a name, not a change of the rules
    ],
)
def test_spellings_that_build_the_same_cards_are_the_same_version(same: dict[str, Any]) -> None:
    assert knowledge_version(_base().with_overrides(**same)).version == knowledge_version(_base()).version


def test_the_label_is_carried_beside_the_version() -> None:
    labelled = knowledge_version(_base().with_overrides(knowledge_label="2027-01 lab assay change"))
    assert labelled.as_json() == {
        "version": knowledge_version(_base()).version,
        "label": "2027-01 lab assay change",
    }
    assert knowledge_version(_base()).as_json() == {"version": knowledge_version(_base()).version}


@pytest.fixture
def edited_knowledge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Lets a test change the parsed knowledge files; caches are emptied before and after."""
    original = dict(knowledge_files_version.knowledge_files())

    def use(files: dict[str, Any]) -> None:
        monkeypatch.setattr(knowledge_files_version, "knowledge_files", lambda: files)
        knowledge_files_version.files_digest.cache_clear()
        change_version._BY_SETTINGS.clear()

    yield original, use
    knowledge_files_version.files_digest.cache_clear()
    change_version._BY_SETTINGS.clear()


def test_the_knowledge_files_content_is_hashed_not_their_layout(edited_knowledge: Any) -> None:
    original, use = edited_knowledge
    before = knowledge_version(_base()).version
    reordered = {name: dict(reversed(list(content.items()))) for name, content in reversed(original.items())}
    use({**reordered, "cutoffs": {**original["cutoffs"], "_about": "commentary, reworded"}})
    assert knowledge_version(_base()).version == before  # key order and commentary do not count
    cutoffs = json.loads(json.dumps(original["cutoffs"]))
    cutoffs["cutoffs"]["magnesium_low"]["value"] = 0.65
    use({**original, "cutoffs": cutoffs})
    assert knowledge_version(_base()).version != before
    assert canonical({"b": 1, "a": [1, 2]}) == canonical({"a": [1, 2], "b": 1})


# --- where the version appears ---------------------------------------------------------------


@pytest.fixture
def labelled(tmp_path: Path) -> tuple[FlaskClient, Settings, str]:
    url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    settings = load_settings(environ={}, database_url=url, audit_flush_s=0, knowledge_label="site rules 1")
    fixture: Fixture = next(f for f in FIXTURES if f.name == "b12-deficiency-metformin-older-adult")
    return create_app(settings, clock=lambda: fixture.now).test_client(), settings, url


def test_discovery_healthz_cards_and_the_audit_name_the_version(
    labelled: tuple[FlaskClient, Settings, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, settings, url = labelled
    stamp = {"version": knowledge_version(settings).version, "label": "site rules 1"}
    services = client.get("/cds-services").get_json()["services"]
    assert services and all(s["extension"][VERSION_KEY] == stamp for s in services)
    assert all("io.github.myelin-cds.topic-modes" in s["extension"] for s in services)
    assert client.get("/healthz").get_json()["knowledgeVersion"] == stamp

    fixture = next(f for f in FIXTURES if f.name == "b12-deficiency-metformin-older-adult")
    with caplog.at_level(logging.INFO, logger="cds"):
        cards = client.post(f"/cds-services/{fixture.service}", json=fixture.request).get_json()["cards"]
    assert cards and all(c["extension"] == {VERSION_KEY: stamp} for c in cards)
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.getMessage() == "request"]
    assert [line.get("knowledgeVersion") for line in lines if line["method"] == "POST"] == [stamp["version"]]

    with create_engine(url).connect() as conn:
        audited = conn.execute(text("SELECT knowledge_version FROM card_audit")).scalars().all()
        answered = conn.execute(text("SELECT knowledge_version FROM calls")).scalars().all()
        noted = conn.execute(text("SELECT version, label, settings FROM knowledge_versions")).all()
    assert audited == [stamp["version"]] * len(cards) and answered == [stamp["version"]]
    assert [(v, label) for v, label, _ in noted] == [(stamp["version"], "site rules 1")]
    assert json.loads(noted[0][2])["recent_months"] == 12  # what the version is, for the reports

"""Feedback volume and origin: at most max_feedback_items per request, and in jwt mode feedback
for a card only from the issuer and tenant the card was issued to, so one EHR cannot change
another site's committee figures. Real tokens from two trusted EHRs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from sqlalchemy import create_engine, text
from trusted_ehr import BASE, ISS, JWKS_URL, SigningKey, bearer, claims_for, jwks, mint

from cds.config import IssuerConfig, load_settings
from cds.server.wsgi import build_app
from tests.governance.conftest import fixture, request_for

OTHER_ISS = "https://other-ehr.example.net"
OTHER_JWKS_URL = "https://other-ehr.example.net/jwks.json"
SCENARIO = "b12-deficiency-metformin-older-adult"
SERVICE = "/cds-services/deficiency-screen"
FEEDBACK = SERVICE + "/feedback"


@pytest.fixture
def two_ehrs(keys: dict[str, SigningKey]) -> Iterator[None]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, json=jwks(keys["rsa"]))
        mock.get(OTHER_JWKS_URL, json=jwks(keys["ec"]))
        yield


class Site:
    """An app on an SQLite file trusting both EHRs; its clock at the scenarios' "now"."""

    def __init__(self, tmp_path: Path, keys: dict[str, SigningKey], **overrides: Any) -> None:
        self.db_url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
        self.keys = keys
        issuers = (IssuerConfig(iss=ISS, jwks_url=JWKS_URL),
                   IssuerConfig(iss=OTHER_ISS, jwks_url=OTHER_JWKS_URL))  # fmt: skip
        values: dict[str, Any] = {
            "auth_mode": "jwt", "issuers": issuers, "public_base_url": BASE, "database_url": self.db_url,
            "data_dir": str(tmp_path / "data"), "audit_flush_s": 0, "preview_enabled": False,
        }  # fmt: skip
        settings = load_settings(environ={}, **{**values, **overrides})
        now = fixture(SCENARIO).now
        self.app: Flask = build_app(settings, clock=lambda: now)

    def token(self, path: str, ehr: str = "one", tenant: str | None = None) -> dict[str, str]:
        key, iss = (self.keys["rsa"], ISS) if ehr == "one" else (self.keys["ec"], OTHER_ISS)
        extra = {"tenant": tenant} if tenant is not None else {}
        return bearer(mint(key, claims_for(path, iss=iss, **extra)))

    def cards(self, hook_instance: str, ehr: str = "one", tenant: str | None = None) -> list[str]:
        response = self.app.test_client().post(
            SERVICE, json=request_for(SCENARIO, hook_instance), headers=self.token(SERVICE, ehr, tenant)
        )
        assert response.status_code == 200, response.get_json()
        cards = [card["uuid"] for card in response.get_json()["cards"]]
        assert cards
        return cards

    def feedback(
        self, cards: list[str], ehr: str = "one", tenant: str | None = None, app: Flask | None = None
    ) -> Any:
        items = [{"card": c, "outcome": "overridden", "outcomeTimestamp": "2026-11-20T10:00:00Z",
                  "overrideReason": {"userComment": "n/a"}} for c in cards]  # fmt: skip
        return (
            (app or self.app)
            .test_client()
            .post(FEEDBACK, json={"feedback": items}, headers=self.token(FEEDBACK, ehr, tenant))
        )

    def stored(self) -> int:
        with create_engine(self.db_url).connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM feedback")).scalar_one())


@pytest.fixture
def site(two_ehrs: None, tmp_path: Path, keys: dict[str, SigningKey]) -> Site:
    return Site(tmp_path, keys)


def test_feedback_for_another_ehrs_card_is_refused_and_nothing_is_stored(site: Site) -> None:
    cards = site.cards("d0000000-0000-4000-8000-000000000001", ehr="one")
    refused = site.feedback(cards, ehr="other")
    assert refused.status_code == 403
    body = refused.get_json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == "forbidden"
    assert "issued to another EHR" in body["issue"][0]["diagnostics"]
    assert OTHER_ISS not in body["issue"][0]["diagnostics"] and ISS not in body["issue"][0]["diagnostics"]
    assert site.stored() == 0
    # One foreign card among the caller's own: the whole request is refused.
    own = site.cards("d0000000-0000-4000-8000-000000000002", ehr="other")
    assert site.feedback([*own, cards[0]], ehr="other").status_code == 403
    assert site.stored() == 0
    assert site.feedback(cards, ehr="one").status_code == 200  # the EHR the cards went to
    assert site.feedback(own, ehr="other").status_code == 200
    assert site.stored() == len(cards) + len(own)


def test_a_tenant_gives_feedback_only_on_its_own_cards(site: Site) -> None:
    cards = site.cards("d0000000-0000-4000-8000-000000000011", tenant="hospital-a")
    assert site.feedback(cards, tenant="hospital-b").status_code == 403
    assert site.feedback(cards).status_code == 403  # no tenant is another tenant
    assert site.stored() == 0
    assert site.feedback(cards, tenant="hospital-a").status_code == 200


def test_feedback_for_a_card_never_issued_is_accepted_and_counted_unmatched(site: Site) -> None:
    never = "0b7c1f0e-0000-4000-8000-00000000dead"
    assert site.feedback([never], ehr="other").status_code == 200
    assert site.stored() == 1


def test_feedback_that_came_before_its_card_was_recorded_counts_only_for_the_cards_own_ehr(
    two_ehrs: None, tmp_path: Path, keys: dict[str, SigningKey]
) -> None:
    """A card's audit record is written within audit_flush_s by the worker that answered; feedback
    reaching another worker first cannot be checked at the door. The report refuses it instead."""
    answering = Site(tmp_path, keys, audit_flush_s=3600)  # queues its cards
    other_worker = Site(tmp_path, keys)
    cards = answering.cards("d0000000-0000-4000-8000-000000000021", ehr="one")
    assert answering.feedback(cards, ehr="other", app=other_worker.app).status_code == 200  # not known yet
    answering.app.extensions["cds"].audit.close()  # the card's record is written now
    report = _report(other_worker)
    assert report["unmatchedFeedback"] == len(cards)
    assert sum(t["overridden"] for t in report["topics"]) == 0
    assert answering.feedback(cards, ehr="one", app=other_worker.app).status_code == 200
    report = _report(other_worker)
    assert sum(t["overridden"] for t in report["topics"]) == len(cards)


def _report(site: Site) -> dict[str, Any]:
    from cds.governance.report_query import load_report

    state = site.app.extensions["cds"]
    return load_report(state.database, state.settings, since=None, until=None).as_json()


@pytest.mark.parametrize(("limit", "sent", "status"), [(100, 100, 200), (100, 101, 413), (3, 4, 413)])
def test_a_feedback_request_holds_at_most_max_feedback_items(
    two_ehrs: None, tmp_path: Path, keys: dict[str, SigningKey], limit: int, sent: int, status: int
) -> None:
    site = Site(tmp_path, keys, **({} if limit == 100 else {"max_feedback_items": limit}))
    cards = [f"0b7c1f0e-0000-4000-8000-{n:012d}" for n in range(sent)]
    answer = site.feedback(cards)
    assert answer.status_code == status
    if status == 413:
        outcome = answer.get_json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert f"at most {limit}" in outcome["issue"][0]["diagnostics"]
        assert "max_feedback_items" in outcome["issue"][0]["diagnostics"]
        assert site.stored() == 0
    else:
        assert site.stored() == sent


def test_a_tenant_claim_longer_than_256_characters_is_refused(site: Site) -> None:
    response = site.app.test_client().post(
        SERVICE, json=request_for(SCENARIO, "d0000000-0000-4000-8000-000000000031"),
        headers=site.token(SERVICE, tenant="t" * 257),
    )  # fmt: skip
    assert response.status_code == 401

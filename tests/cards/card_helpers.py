"""Hand-made findings and checks shared by the card tests."""

from __future__ import annotations

import re
from typing import Any

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds.cards import CardContext, render_cards
from cds.engine.assess import in_card_order
from cds.engine.model import (
    Cause,
    DataGap,
    Evidence,
    Finding,
    Severity,
    TestRecommendation,
    Topic,
    TreatmentOption,
)
from cds.knowledge import load_knowledge
from cds.schemas import validator_for
from cds.services.response import to_json

HOOK_INSTANCE = "8f4d2c1e-3b5a-4e6f-9a7b-0c1d2e3f4a5b"
BASE = "https://cds.example.org"

KNOWLEDGE = load_knowledge()


def b12_evidence(**changes: Any) -> Evidence:
    values: dict[str, Any] = {
        "analyte": "b12_total",
        "display": "Vitamin B12",
        "loinc": "2132-9",
        "reported": "150 pg/mL",
        "value": 150.0,
        "unit": "ng/L",
        "comparator": None,
        "effective": "2026-09-02T08:00:00Z",
        "cutoff": "< 180 pg/mL",  # as the engine words it for a pg/mL result: the laboratory's unit
        "source": "nice-ng239",
        "reference": "Observation/b12",
    }
    values.update(changes)
    # The typed parts the engine gives every Evidence, made out here from the words a test wrote.
    reported = re.match(r"\s*[<>]=?\s*(\d+(?:\.\d+)?)\s*(\S*)$", values["reported"]) or re.match(
        r"\s*(\d+(?:\.\d+)?)\s*(\S*)$", values["reported"]
    )
    values.setdefault("derived", not values["loinc"])
    if reported is not None and not values["derived"]:
        values.setdefault("reported_value", float(reported.group(1)))
        values.setdefault("reported_unit", reported.group(2))
    values.setdefault("cutoff_figures", tuple(re.findall(r"\d+(?:\.\d+)?", values["cutoff"])))
    return Evidence(**values)


MMA = TestRecommendation("mma", "13964-2", "Methylmalonic acid", "B12 result is indeterminate")
HOMOCYSTEINE = TestRecommendation("homocysteine", "13965-9", "Homocysteine", "B12 result is indeterminate")
MAGNESIUM = TestRecommendation("magnesium", "19123-9", "Magnesium", "Long-term PPI use")
FOLATE = TestRecommendation("folate", "2284-8", "Folate", "Exclude folate deficiency before treatment")

ALL_TREATMENTS = (
    TreatmentOption("b12-oral", recommended=True),
    TreatmentOption("b12-sublingual", recommended=False),
    TreatmentOption("b12-im", recommended=False),
)


def deficiency(**changes: Any) -> Finding:
    values: dict[str, Any] = {
        "topic": Topic.B12_DEFICIENCY,
        "severity": Severity.WARNING,
        "title": "Vitamin B12 deficiency",
        "primary": b12_evidence(),
        "evidence": (b12_evidence(),),
        "causes": (Cause("medication", "metformin", "Metformin (since 2024-03-01)", "rxnorm"),),
        "gaps": (DataGap("Active B12", "no result in the last 12 months"),),
        "treatments": ALL_TREATMENTS,
        "notes": ("b12-total-late-marker", "folate-caution"),
        "sources": ("nice-ng239", "b12-pathway-2025"),
    }
    values.update(changes)
    return Finding(**values)


def one_of_each_topic() -> list[Finding]:
    """A finding for every topic, severities mixed and deliberately out of order."""
    findings = []
    for index, topic in enumerate(Topic):
        severity = (Severity.INFO, Severity.CRITICAL, Severity.WARNING)[index % 3]
        findings.append(
            Finding(
                topic=topic,
                severity=severity,
                title=topic.value.replace("-", " ").capitalize(),
                primary=b12_evidence() if index % 2 else None,
                tests=(MMA,) if "testing" in topic.value or "workup" in topic.value else (),
                treatments=ALL_TREATMENTS if topic is Topic.B12_DEFICIENCY else (),
                gaps=(DataGap("Magnesium", "no result in the last 12 months"),),
                sources=("nice-ng239",),
            )
        )
    return findings


def context(hook_instance: str = HOOK_INSTANCE) -> CardContext:
    return CardContext(hook_instance=hook_instance, patient_id="p1", base_url=BASE, knowledge=KNOWLEDGE)


def build_cards(findings: list[Finding], ctx: CardContext) -> list[dict[str, Any]]:
    """The cards of these findings as JSON, in the order the engine hands findings over (one
    per topic, most severe first: the engine's last step)."""
    return [to_json(card) for card in render_cards(in_card_order(findings), ctx)]


def assert_valid_response(response: dict[str, Any]) -> None:
    errors = sorted(validator_for("response").iter_errors(response), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    for card in response["cards"]:
        assert len(card["summary"]) < 140
        for suggestion in card.get("suggestions", ()):
            for action in suggestion["actions"]:
                if action["type"] == "delete":  # names a draft order; creates nothing
                    assert action["resourceId"].count("/") == 1
                    continue
                validate_fhir(action["resource"])


def validate_fhir(resource: dict[str, Any]) -> None:
    models = {"ServiceRequest": ServiceRequest, "MedicationRequest": MedicationRequest}
    models[resource["resourceType"]].model_validate(resource)


def empty_values(node: Any, path: str = "$") -> list[str]:
    """Paths of optional fields present with no value (None, '', [] or {}); `cards: []` is allowed."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if path == "$" and key == "cards" and value == []:
                continue
            if value is None or value == "" or value == [] or value == {}:
                found.append(f"{path}.{key}")
            found.extend(empty_values(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(empty_values(value, f"{path}[{index}]"))
    return found

"""Comparator for the benchmark: part of the same clinical job done the idiomatic way with
fhir.resources models, served as a small Flask app under gunicorn.

The prefetch is read into fhir.resources (R4B) Patient, Bundle, Observation,
MedicationStatement and MedicationRequest models; B12 and magnesium rules and a B12
medication check then work on the models. It is deliberately simpler than the service's
guideline (no unit conversion, no plausibility limits, no staleness rules), so its cost is
a lower bound for the job done this way.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from flask import Flask, jsonify, request

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
B12_CODES = {"2132-9": ("pg/mL", 200.0), "14685-2": ("pmol/L", 148.0)}
MAGNESIUM_CODES = {"19123-9": ("mg/dL", 1.7), "2601-3": ("mg/dL", 1.7)}
B12_RXNORM = {"11248", "5514", "1311629", "1426"}  # cyanocobalamin, hydroxocobalamin, ...
B12_WORDS = ("cobalamin", "vitamin b12", "b-12", "b12")
USABLE_STATUS = {"final", "amended", "corrected"}


def _latest(observations: list[Observation], codes: dict[str, tuple[str, float]]) -> Observation | None:
    best: tuple[datetime, Observation] | None = None
    for obs in observations:
        if obs.status not in USABLE_STATUS or obs.valueQuantity is None:
            continue
        if not any(c.system == LOINC and c.code in codes for c in obs.code.coding or ()):
            continue
        when = obs.effectiveDateTime or obs.issued
        if when is None:
            continue
        when = when if isinstance(when, datetime) else datetime.fromisoformat(str(when))
        if best is None or when > best[0]:
            best = (when, obs)
    return best[1] if best else None


def _is_low(obs: Observation | None, codes: dict[str, tuple[str, float]]) -> bool:
    if obs is None:
        return False
    code = next(c.code for c in obs.code.coding if c.system == LOINC and c.code in codes)
    unit, cutoff = codes[code]
    quantity = obs.valueQuantity
    return quantity.code == unit and quantity.value is not None and float(quantity.value) < cutoff


def _on_b12(medications: list[MedicationStatement | MedicationRequest]) -> bool:
    for med in medications:
        if med.status not in {"active", "on-hold", "intended"}:
            continue
        concept = med.medicationCodeableConcept
        if concept is None:
            continue
        if any(c.system == RXNORM and c.code in B12_RXNORM for c in concept.coding or ()):
            return True
        if concept.text and any(word in concept.text.lower() for word in B12_WORDS):
            return True
    return False


def _resources(bundle: Bundle | None, kind: type) -> list[Any]:
    if bundle is None:
        return []
    return [e.resource for e in bundle.entry or () if isinstance(e.resource, kind)]


def evaluate(payload: dict[str, Any]) -> dict[str, Any]:
    prefetch = payload.get("prefetch") or {}
    patient = Patient.model_validate(prefetch["patient"])
    bundles = {
        key: Bundle.model_validate(value)
        for key, value in prefetch.items()
        if isinstance(value, dict) and value.get("resourceType") == "Bundle"
    }
    observations = _resources(bundles.get("observations"), Observation)
    medications = _resources(bundles.get("medicationStatements"), MedicationStatement)
    medications += _resources(bundles.get("medicationRequests"), MedicationRequest)
    cards = []
    b12 = _latest(observations, B12_CODES)
    if _is_low(b12, B12_CODES) and not _on_b12(medications):
        cards.append(_card(f"Low vitamin B12 for patient {patient.id}: consider replacement", "warning"))
    elif b12 is None:
        cards.append(_card("No recent vitamin B12 result: consider testing", "info"))
    magnesium = _latest(observations, MAGNESIUM_CODES)
    if _is_low(magnesium, MAGNESIUM_CODES):
        cards.append(_card("Low magnesium may explain twitching", "warning"))
    return {"cards": cards}


def _card(summary: str, indicator: str) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": indicator,
        "source": {"label": "fhir.resources comparator"},
        "detail": f"evaluated {datetime.now(UTC):%Y-%m-%d}",
    }


app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.post("/cds-services/deficiency-screen")
def deficiency_screen():
    return jsonify(evaluate(json.loads(request.get_data())))

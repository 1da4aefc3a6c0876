"""Adversarial inputs: the cost of a call whose body, at the size limit, is the worst case for one
class of field the service reads, next to a typical 5,000-Observation call.

Each case starts from a small chart and blows one kind of field up until the body is at the
limit: one huge value, or the limit spread over as many resources as a prefetch key may hold.
Every per-request cost is meant to be linear in the body's size, so none should cost more than
the typical call of a similar size.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from payloads import PATIENT_ID, patient_view

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
# Text that defeated the card text patterns (a rescan from every word start or every "(").
HOSTILE_TEXT = "a.b " + "x." * 8 + " (" * 4


def _b12(value: Any = 150, **changes: Any) -> dict[str, Any]:
    resource = {
        "resourceType": "Observation",
        "id": "b12",
        "status": "final",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": {"coding": [{"system": LOINC, "code": "2132-9", "display": "Vitamin B12"}]},
        "effectiveDateTime": "2026-10-20",
        "valueQuantity": {"value": value, "unit": "pg/mL", "system": UCUM, "code": "pg/mL"},
    }
    resource.update(changes)
    return resource


def _condition(code: str, system: str = ICD10, display: str | None = None, text: str | None = None) -> dict:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display is not None:
        coding["display"] = display
    concept: dict[str, Any] = {"coding": [coding]}
    if text is not None:
        concept["text"] = text
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": concept,
    }


def _medication(system: str, code: str, text: str = "metformin", reference: str | None = None) -> dict:
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "subject": {"reference": reference or f"Patient/{PATIENT_ID}"},
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code}], "text": text},
        "effectivePeriod": {"start": "2025-01-01"},
    }
    return resource


def _with(key: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    request = patient_view(10)
    request["prefetch"][key]["entry"] = request["prefetch"][key]["entry"] + [
        {"resource": r} for r in resources
    ]
    return request


def _fill(build: Callable[[str], dict[str, Any]], unit: str, limit: int) -> bytes:
    """The body `build(unit * n)` with the largest n that keeps it within `limit` bytes."""
    empty = len(json.dumps(build("")).encode())
    count = max(1, (limit - empty - 64) // len(unit.encode()))
    return json.dumps(build(unit * count)).encode()


def _spread(build: Callable[[str], dict[str, Any]], count: int, limit: int) -> int:
    """Per-resource filler length so that `count` resources carrying it fill `limit` bytes."""
    one = len(json.dumps({"resource": build("")}).encode()) + 2
    return max(1, (limit - 4096) // count - one)


def cases(limit: int, per_key: int) -> list[tuple[str, str, bytes]]:
    """(field class, worst case, body) for every class of field the service reads."""
    found: list[tuple[str, str, bytes]] = []

    def one(kind: str, label: str, key: str, make: Callable[[str], dict[str, Any]], unit: str = "9") -> None:
        found.append((kind, label, _fill(lambda filler: _with(key, [make(filler)]), unit, limit)))

    def many(kind: str, label: str, key: str, make: Callable[[str], dict[str, Any]]) -> None:
        size = _spread(make, per_key, limit)
        # every resource's filler differs (digits of its index), so no cache helps
        body = json.dumps(_with(key, [make(f"{i:0{size}d}") for i in range(per_key - 20)])).encode()
        found.append((kind, label.format(count=per_key - 20, size=size), body))

    # codes: every system the engine looks codes up in
    one("codes", "one ICD-10-CM code at the limit", "conditions", lambda f: _condition("G51" + f))
    one("codes", "one SNOMED CT code at the limit", "conditions", lambda f: _condition("1" + f, SNOMED))
    one("codes", "one LOINC code at the limit", "observations", lambda f: _b12(code={"coding": [
        {"system": LOINC, "code": "2132-9" + f}]}))
    one("codes", "one RxNorm and one ATC code at the limit", "medicationStatements",
        lambda f: _medication(ATC, "A10BA02" + f[: len(f) // 2]) | {"medicationCodeableConcept": {"coding": [
            {"system": RXNORM, "code": "6809" + f[len(f) // 2:]},
            {"system": ATC, "code": "A10BA02" + f[: len(f) // 2]}]}})
    many("codes", "{count:,} Conditions, ICD-10-CM codes of {size:,} characters", "conditions",
         lambda f: _condition("G51" + f))
    # displays: chart text that ends up, escaped, on the cards
    one("displays", "one lab display at the limit (shown on the card)", "observations",
        lambda f: _b12(code={"coding": [{"system": LOINC, "code": "2132-9", "display": f}]}), HOSTILE_TEXT)
    one("displays", "one condition display at the limit", "conditions",
        lambda f: _condition("G51.3", display=f), HOSTILE_TEXT)
    many("displays", "{count:,} Conditions, displays of {size:,} characters", "conditions",
         lambda f: _condition("G51.3", display=(HOSTILE_TEXT * (len(f) // len(HOSTILE_TEXT) + 1))[: len(f)]))
    # free text: the whole-word name matching and its negation cues
    one("free text", "one condition text at the limit (names and negation cues)", "conditions",
        lambda f: _condition("Z00", text=f), "bell palsy no hemifacial spasm history of ")
    one("free text", "one medication text at the limit", "medicationStatements",
        lambda f: _medication(RXNORM, "0", text=f), "metformin omeprazole cyanocobalamin ")
    many("free text", "{count:,} Conditions, texts of {size:,} characters", "conditions",
         lambda f: _condition("Z00", text=("bell palsy not " * (len(f) // 15 + 1))[: len(f)]))
    # references: subject, medicationReference, fullUrl
    one("references", "one subject reference at the limit", "observations",
        lambda f: _b12(subject={"reference": "https://ehr.example/Patient/" + f}))
    one("references", "one medicationReference at the limit", "medicationStatements",
        lambda f: _medication(RXNORM, "6809") | {"medicationReference": {"reference": "Medication/" + f}})
    many("references", "{count:,} Observations, subject references of {size:,} characters", "observations",
         lambda f: _b12(subject={"reference": "Patient/" + f}))
    # dates
    one("dates", "one effectiveDateTime at the limit", "observations",
        lambda f: _b12(effectiveDateTime="2026-10-20T08:00:00." + f + "Z"))
    many("dates", "{count:,} Observations, distinct dates of {size:,} characters", "observations",
         lambda f: _b12(effectiveDateTime="2026-10-20T08:00:00." + f + "Z"))
    # numbers
    found.append(("numbers", "one value with as many digits as fit", _long_number(limit)))
    results = [_b12(value=100 + i % 200, id=f"o{i}") for i in range(per_key - 20)]
    body = json.dumps(_with("observations", results)).encode()
    found.append(("numbers", f"{per_key - 20:,} B12 results (most resources a key may hold)", body))
    return [(kind, label, body) for kind, label, body in found if len(body) <= limit]


def _long_number(limit: int) -> bytes:
    """A B12 result whose value is written with as many digits as fit (JSON allows it)."""
    body = json.dumps(_with("observations", [_b12(value=7777.5)])).encode()
    digits = limit - len(body) - 64
    return body.replace(b"7777.5", b"150." + b"0" * digits + b"1")


Post = Callable[[bytes], tuple[int, float]]


def section(post: Post, typical: bytes, limit: int, per_key: int) -> list[str]:
    """The report's table. `post(body)` makes one call and gives (status, p50 ms over a few runs)."""
    status, typical_ms = post(typical)
    lines = [
        "## Adversarial inputs (worst case per field class at the body limit, in process)",
        "",
        f"Body limit {limit / 1024 / 1024:g} MiB, at most {per_key:,} resources per prefetch key. Reference:"
        f" the typical 5,000-Observation call ({len(typical) / 1024:,.0f} KiB, answer {status}):"
        f" **{typical_ms:.1f} ms** p50. Target: no case costs more.",
        "",
        "| field class | worst case | body | answer | call p50 | vs 5,000 Observations |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for kind, label, body in cases(limit, per_key):
        status, ms = post(body)
        size = f"{len(body) / 1024:,.0f} KiB"
        lines.append(f"| {kind} | {label} | {size} | {status} | {ms:.1f} ms | {ms / typical_ms:.2f}x |")
    lines.append("")
    return lines

"""Suggestions: draft FHIR R4 ServiceRequests for tests, MedicationRequests for B12 treatment.

Plain dicts built from knowledge data; tests validate them with fhir.resources R4B models
(full validation is too slow for the request path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds.cards.ids import suggestion_uuid
from cds.cards.text import one_line
from cds.engine.model import Cause, TestRecommendation
from cds.services.response import Action, Suggestion

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
_UCUM_DISPLAY = {"ug": "microgram", "mg": "milligram"}


def _coding(entry: Mapping[str, Any]) -> dict[str, str]:
    # Certainty marks stay in the knowledge file; the resource carries the code only.
    return {k: str(entry[k]) for k in ("system", "code", "display") if entry.get(k)}


def service_request(test: TestRecommendation, patient_id: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {
            "coding": [{"system": LOINC, "code": test.loinc, "display": one_line(test.display)}],
            "text": one_line(test.display),
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "reasonCode": [{"text": one_line(test.reason)}],
    }


def test_suggestion(
    test: TestRecommendation, patient_id: str, hook_instance: str, card_key: str
) -> Suggestion:
    return Suggestion(
        label=f"Order {one_line(test.display)}",
        uuid=suggestion_uuid(hook_instance, card_key, f"test:{test.key}"),
        actions=(
            Action(
                type="create",
                description=f"Add a draft order for {one_line(test.display)} (LOINC {test.loinc})",
                resource=service_request(test, patient_id),
            ),
        ),
    )


def _repeat(timing: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "repeat": {
            "frequency": int(timing["frequency"]),
            "period": timing["period"],
            "periodUnit": timing["periodUnit"],
        }
    }


def _dosage(option: Mapping[str, Any], text: str, timing: Mapping[str, Any]) -> dict[str, Any]:
    dose = option["dose"]
    return {
        "text": text,
        "timing": _repeat(timing),
        "route": {"coding": [_coding(option["route"])], "text": option["route"]["display"]},
        "doseAndRate": [
            {
                "doseQuantity": {
                    "value": dose["value"],
                    "unit": _UCUM_DISPLAY.get(dose["unit"], dose["unit"]),
                    "system": UCUM,
                    "code": dose["unit"],
                }
            }
        ],
    }


def dosage_instructions(option: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One instruction, or one per phase (loading then maintenance) with `sequence`, so an EHR
    that schedules from the structure gives the loading doses and not only the monthly ones."""
    phases = option.get("phases")
    if not phases:
        return [_dosage(option, option["dosageText"], option["timing"])]
    result = []
    for phase in phases:
        timing = option["maintenance"] if phase["timing"] == "maintenance" else phase["timing"]
        result.append({"sequence": int(phase["sequence"]), **_dosage(option, phase["text"], timing)})
    return result


def medication_request(
    option: Mapping[str, Any], reason: Mapping[str, Any], patient_id: str
) -> dict[str, Any]:
    medication = option["medication"]
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": {
            "coding": [_coding(c) for c in medication["coding"]],
            "text": medication["text"],
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "reasonCode": [{"coding": [_coding(reason)], "text": reason["display"]}],
        "dosageInstruction": dosage_instructions(option),
    }


def treatment_suggestion(
    key: str,
    option: Mapping[str, Any],
    reason: Mapping[str, Any],
    recommended: bool,
    patient_id: str,
    hook_instance: str,
    card_key: str,
) -> Suggestion:
    return Suggestion(
        label=option["label"],
        uuid=suggestion_uuid(hook_instance, card_key, f"treatment:{key}"),
        actions=(
            Action(
                type="create",
                description=option["action"],
                resource=medication_request(option, reason, patient_id),
            ),
        ),
        # omitted rather than false: optional fields carry a value or are absent
        isRecommended=True if recommended else None,
    )


def delete_suggestion(
    order: Cause, hook_instance: str, card_key: str, label: str = "Remove the duplicate B12 order"
) -> Suggestion:
    """Remove a draft order (order-select/order-sign): the action names it by 'MedicationRequest/<id>'."""
    name = one_line(order.display)
    return Suggestion(
        label=label,
        uuid=suggestion_uuid(hook_instance, card_key, f"delete:{order.reference}"),
        actions=(
            Action(
                type="delete",
                description=f"Remove the draft order {name} ({order.reference})",
                resourceId=order.reference or None,
            ),
        ),
    )

"""The body of `POST /app/api/chart`, checked before any work: 400 names what is wrong.

The body's size, JSON syntax, charset and nesting are bounded where the hook route bounds
them (the app's shared body reader); this adds the shape: the patient id, the resources under
the hook's prefetch keys, and why any of them could not be read.
"""

from __future__ import annotations

import re
from typing import Any

from cds.companion.chart_view import RESOURCE_KEYS, ChartRequest
from cds.errors import BadRequest
from cds.limits import check_resources_per_key
from cds.reader import NOTHING_SENT, decode

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR R4 id
MAX_REASON_CHARS = 200
_KEYS = ", ".join(RESOURCE_KEYS)


def parse_chart_request(data: Any, max_resources_per_key: int) -> ChartRequest:
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    patient_id = data.get("patientId")
    if not isinstance(patient_id, str):
        raise BadRequest("missing required field 'patientId' (a FHIR id)", location="patientId")
    if not _FHIR_ID.match(patient_id):
        raise BadRequest(f"field 'patientId' is not a FHIR id: {patient_id[:70]!r}", location="patientId")
    resources = data.get("resources")
    if not isinstance(resources, dict):
        raise BadRequest("missing required field 'resources' (an object)", location="resources")
    decoded = {}
    for key, value in resources.items():
        where = f"resources.{str(key)[:60]}"
        if key not in RESOURCE_KEYS:
            raise BadRequest(f"unknown key '{where}'; expected one of {_KEYS}", location=where)
        decoded[key] = NOTHING_SENT if value is None else decode(value)
        if decoded[key].problem is not None:
            problem = decoded[key].problem
            raise BadRequest(f"field '{where}' must be a FHIR resource or Bundle ({problem})", location=where)
    counts = {key: value.resource_count for key, value in decoded.items()}
    check_resources_per_key(counts, max_resources_per_key, where="resources")
    unavailable = data.get("unavailable", {})
    if not isinstance(unavailable, dict):
        raise BadRequest("field 'unavailable' must be an object of key: reason", location="unavailable")
    for key, reason in unavailable.items():
        where = f"unavailable.{str(key)[:60]}"
        if key not in RESOURCE_KEYS:
            raise BadRequest(f"unknown key '{where}'; expected one of {_KEYS}", location=where)
        if not isinstance(reason, str) or not reason.strip():
            raise BadRequest(f"field '{where}' must be a non-empty string", location=where)
        if len(reason) > MAX_REASON_CHARS:
            raise BadRequest(f"field '{where}' is longer than {MAX_REASON_CHARS} characters", location=where)
    return ChartRequest(patient_id=patient_id, resources=decoded, unavailable=dict(unavailable))

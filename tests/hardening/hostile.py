"""Hostile inputs for the hardening tests, and the one property every response must have."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SERVICE = "/cds-services/deficiency-screen"
FEEDBACK = SERVICE + "/feedback"
PREFETCH_KEYS = ("patient", "observations", "medicationStatements", "medicationRequests", "conditions")

# How many examples comes from the hypothesis profile (tests/conftest.py): few in `make check`,
# more in `make test`.
FAST = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

ODD_STRINGS = [
    "",
    "\x00",
    "a\x00b",
    "\ud800",  # lone surrogate: valid as a JSON escape, not encodable as UTF-8
    "\udfff\ud800",
    "\u202eevil\u202c",  # right-to-left override
    "\ufeff",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "x" * 10_000,
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%s%n{0}",
    "Patient/../../secret",
    "{{context.patientId}}",
]

HUGE_NUMBERS = [10**30, -(10**30), 2**63, -(2**63) - 1, 1e308, -1e308, 5e-324, 0.1 + 0.2]

odd_text = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(st.characters(exclude_categories=()), max_size=40),  # includes surrogates and controls
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(odd_text, children, max_size=5),
    ),
    max_leaves=25,
)

RESOURCE_TYPES = [
    "Patient",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "Condition",
    "Bundle",
    "OperationOutcome",
    "Binary",
    "Practitioner",
    "Encounter",
    "",
]


@st.composite
def hostile_resources(draw: st.DrawFn) -> Any:
    """A resource-shaped thing of any type, with fields of any shape."""
    resource: dict[str, Any] = {
        "resourceType": draw(st.one_of(st.sampled_from(RESOURCE_TYPES), json_values)),
    }
    for name in draw(
        st.lists(
            st.sampled_from(
                [
                    "id",
                    "status",
                    "code",
                    "subject",
                    "patient",
                    "valueQuantity",
                    "valueString",
                    "effectiveDateTime",
                    "issued",
                    "medicationCodeableConcept",
                    "dosageInstruction",
                    "clinicalStatus",
                    "verificationStatus",
                    "birthDate",
                    "entry",
                ]
            ),
            max_size=6,
            unique=True,
        )
    ):
        resource[name] = draw(json_values)
    return resource


@st.composite
def hostile_bundles(draw: st.DrawFn) -> Any:
    """Bundles whose entries lack a resource, hold non-objects, or hold resources of any type."""
    entry = st.one_of(
        st.fixed_dictionaries({"resource": hostile_resources()}),
        st.fixed_dictionaries({"resource": json_values}),
        st.fixed_dictionaries({"fullUrl": odd_text}),  # no resource at all
        json_values,
    )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": draw(st.sampled_from(["searchset", "collection", "batch-response", 7])),
        "entry": draw(st.one_of(st.lists(entry, max_size=8), json_values)),
    }
    if draw(st.booleans()):
        bundle["total"] = draw(json_values)
    return bundle


prefetch_values = st.one_of(st.none(), hostile_resources(), hostile_bundles())

VALID_CALL: dict[str, Any] = {
    "hook": "patient-view",
    "hookInstance": "5a8b9f0e-3c1d-4e2f-8a7b-6c5d4e3f2a1b",
    "context": {"userId": "Practitioner/example", "patientId": "p1"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01", "gender": "female"},
        "observations": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "medicationStatements": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "medicationRequests": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": []},
    },
}

VALID_FEEDBACK: dict[str, Any] = {
    "feedback": [
        {
            "card": "7f4b5a9e-0a59-4d3b-9a1e-8c1f7d0f2a10",
            "outcome": "overridden",
            "overrideReason": {
                "reason": {"system": "https://example.org/override-reason", "code": "not-relevant"},
                "userComment": "seen",
            },
            "outcomeTimestamp": "2025-01-01T10:00:00Z",
        }
    ]
}

# Every field a client sends, as a path into the request body.
CALL_FIELDS: list[tuple[str, ...]] = [
    ("hook",),
    ("hookInstance",),
    ("context",),
    ("context", "userId"),
    ("context", "patientId"),
    ("context", "encounterId"),
    ("prefetch",),
    *[("prefetch", key) for key in PREFETCH_KEYS],
    ("fhirServer",),
    ("fhirAuthorization",),
    ("extension",),
]
FEEDBACK_FIELDS: list[tuple[str, ...]] = [
    ("feedback",),
    ("feedback", 0),
    ("feedback", 0, "card"),
    ("feedback", 0, "outcome"),
    ("feedback", 0, "outcomeTimestamp"),
    ("feedback", 0, "overrideReason"),
    ("feedback", 0, "overrideReason", "reason"),
    ("feedback", 0, "overrideReason", "userComment"),
    ("feedback", 0, "acceptedSuggestions"),
]

DELETE = object()


def mutated(base: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of `base` with the field at `path` replaced by `value` (or removed for DELETE)."""
    body = copy.deepcopy(base)
    parent: Any = body
    for step in path[:-1]:
        parent = parent[step]
    if value is DELETE:
        if isinstance(parent, list):
            parent.pop(path[-1])
        else:
            parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return body


def encode(value: Any) -> bytes:
    """JSON as a hostile client would send it: lone surrogates escaped, NaN/Infinity literal."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def assert_well_formed(response: Any, *, endpoint: str = "") -> Any:
    """Never a 500; always JSON; 4xx is an OperationOutcome that says what is wrong."""
    assert response.status_code < 500, (response.status_code, response.data[:500])
    assert response.mimetype == "application/json"
    body = json.loads(response.data.decode("utf-8"))
    if 400 <= response.status_code < 500:
        assert body["resourceType"] == "OperationOutcome"
        diagnostics = body["issue"][0]["diagnostics"]
        assert isinstance(diagnostics, str) and diagnostics.strip()
    elif response.status_code == 200 and endpoint == "service":
        assert isinstance(body["cards"], list)
    return body

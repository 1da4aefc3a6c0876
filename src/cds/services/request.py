"""A CDS Hooks call as the service sees it, once parsed and validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds.reader import Decoded


@dataclass(frozen=True)
class FhirAuthorization:
    access_token: str = field(repr=False)  # never printed, logged or stored
    token_type: str
    scope: str
    subject: str
    patient: str | None = None


@dataclass(frozen=True)
class HookRequest:
    hook: str
    hook_instance: str
    context: dict[str, Any]
    prefetch: dict[str, Decoded]  # each value decoded once, by the reader
    fhir_server: str | None = None
    fhir_authorization: FhirAuthorization | None = field(default=None, repr=False)

    @property
    def patient_id(self) -> str | None:
        value = self.context.get("patientId")
        return value if isinstance(value, str) else None

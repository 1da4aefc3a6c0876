"""Trust: decide whether a call comes from a trusted EHR (CDS Hooks JWT)."""

from __future__ import annotations

from dataclasses import dataclass

from cds.config import Settings


@dataclass(frozen=True)
class Caller:
    iss: str | None
    tenant: str | None = None


class Authenticator:
    """Open mode accepts every call; JWT verification lands with the trust work."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def mode(self) -> str:
        return self.settings.auth_mode

    def verify(self, authorization: str | None, audience: str) -> Caller:
        return Caller(iss=None)

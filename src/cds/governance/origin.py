"""Whose card is it: feedback about a card is taken only from the caller it was issued to.

The caller is the verified issuer and tenant of the call's JWT (both None when no token was
verified, as in open mode). A card recorded with no issuer (no verified token, or recorded
before callers were kept) takes feedback from anyone, as before; a card issued to an issuer takes
it from that issuer and tenant only, so one EHR cannot change another site's committee figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from cds.store.governance import CardOrigin


class Caller(Protocol):
    """What the trust layer verified about a call (cds.trust.authenticator.Caller)."""

    @property
    def iss(self) -> str | None: ...

    @property
    def tenant(self) -> str | None: ...


def issued_elsewhere(origin: CardOrigin, caller: Caller | None) -> bool:
    if origin.issuer is None:
        return False
    issuer, tenant = (caller.iss, caller.tenant) if caller is not None else (None, None)
    return (origin.issuer, origin.tenant) != (issuer, tenant)


def foreign_cards(origins: Mapping[str, CardOrigin], caller: Caller | None) -> list[str]:
    """The cards of `origins` (card uuid -> origin) that were issued to another caller."""
    return sorted(uuid for uuid, origin in origins.items() if issued_elsewhere(origin, caller))

"""Where the companion app may connect and who may frame it: the allow-list and the CSP.

The app's pages talk to the service's own origin and to the FHIR and authorization servers
on `smart_allowed_servers`, nothing else: the Content-Security-Policy says so to the
browser, and the launch page refuses any other `iss` before a single request is made, so an
attacker-chosen server never receives the user's authorization attempt.
"""

from __future__ import annotations

from collections.abc import Sequence

from cds.config import Settings
from cds.fhir.client import Origin, parse_origin

MAX_ISS_CHARS = 2000


def _listed(origin: Origin, entries: Sequence[str]) -> bool:
    """An entry names this scheme and host, and its port or none (any port). Unlike the
    service's own FHIR allow-list, which names exact origins because the service sends a
    token there, this list only says where the user's browser may sign in and connect, which
    the CSP words the same way ("host:*")."""
    for entry in entries:
        candidate = parse_origin(entry)
        if candidate is None or (candidate.scheme, candidate.host) != (origin.scheme, origin.host):
            continue
        if candidate.port is None or candidate.effective_port == origin.effective_port:
            return True
    return False


def iss_allowed(iss: str, settings: Settings) -> bool:
    """An `iss` on an allowed origin (an entry without a port allows any port)."""
    if len(iss) > MAX_ISS_CHARS:
        return False
    origin = parse_origin(iss)
    return origin is not None and _listed(origin, settings.smart_allowed_servers)


def _source(origin: Origin) -> str:
    # CSP: a host source without a port means the scheme's default port only, so an allow-list
    # entry that allows any port becomes "host:*".
    return f"{origin.scheme}://{origin.host}:{origin.port if origin.port is not None else '*'}"


def connect_sources(settings: Settings) -> list[str]:
    found = (parse_origin(entry) for entry in settings.smart_allowed_servers)
    return list(dict.fromkeys(_source(o) for o in found if o is not None))


def content_security_policy(settings: Settings) -> str:
    """Only the service's own scripts and styles, no inline script, connections to the service
    and the allowed servers, framed only by the site's EHR (`frame_ancestors`)."""
    connect = " ".join(["'self'", *connect_sources(settings)])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; frame-ancestors {' '.join(settings.frame_ancestors)}; "
        "base-uri 'none'; form-action 'none'"
    )

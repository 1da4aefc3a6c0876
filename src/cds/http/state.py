"""What the routes share: settings, services, handlers, stores, clock; and how a call's
caller, service and body are made out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask import g, json, request
from werkzeug.exceptions import ClientDisconnected
from werkzeug.sansio.utils import get_current_url

from cds.answer.handlers import Handler, topics_of
from cds.answer.modes import topic_modes
from cds.answer.runtime import knowledge_for
from cds.cards.version import VERSION_EXTENSION
from cds.change.version import knowledge_version
from cds.config import Settings
from cds.errors import BadRequest, NotFound, PayloadTooLarge, RequestTimeout, UnsupportedMediaType
from cds.fhir.client import FhirClient
from cds.governance.recorder import AuditRecorder
from cds.http.read_deadline import DEADLINES
from cds.services.definitions import ServiceDefinition
from cds.store.database import Database
from cds.store.feedback import FeedbackStore
from cds.trust.authenticator import Authenticator

Clock = Callable[[], datetime]
# Discovery extension naming each topic a service can return and whether it is live.
TOPICS_EXTENSION = "io.github.myelin-cds.topic-modes"


@lru_cache(maxsize=256)
def _host_url(scheme: str, host: str) -> str:
    """`request.host_url`, worked out once per host instead of on every call (its IRI
    conversion is the costly part); bounded, so odd Host headers cannot grow it."""
    return get_current_url(scheme, host)


def _is_json_content_type(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


class CdsApp:
    """Holds what the routes share: settings, services, handlers, stores, clock."""

    def __init__(
        self,
        settings: Settings,
        services: dict[str, ServiceDefinition],
        handlers: dict[str, Handler],
        database: Database,
        feedback_store: FeedbackStore,
        authenticator: Authenticator,
        clock: Clock,
        audit: AuditRecorder,
    ) -> None:
        self.settings = settings
        self.database = database
        self.audit = audit
        self.services = services
        self.handlers = handlers
        self.feedback_store = feedback_store
        self.authenticator = authenticator
        self.clock = clock
        self.fhir_client = FhirClient(settings)  # pooled connections shared by all calls
        self.known_topics = frozenset(knowledge_for(settings).topics)  # bounds the metrics' labels
        self.knowledge_version = knowledge_version(settings)  # of every card, call and log line
        self.discovery_body = json.dumps(
            {"services": [self._discovery_entry(s) for s in services.values()]},
            ensure_ascii=False,
            separators=(",", ":"),
        )

    def _discovery_entry(self, service: ServiceDefinition) -> dict[str, Any]:
        entry = service.discovery()
        topics = topics_of(self.handlers[service.handler])
        if topics:
            # CDS Hooks lets any object carry `extension`; EHRs ignore keys they do not know.
            modes = topic_modes(self.settings)
            entry["extension"] = {TOPICS_EXTENSION: {code: modes.mode(code) for code in topics}}
        entry.setdefault("extension", {})[VERSION_EXTENSION] = self.knowledge_version.as_json()
        return entry

    # -- helpers used by the routes
    def audience(self) -> str:
        """The URL the client called, as the JWT `aud` must name it."""
        base = self.settings.public_base_url
        if base:
            return base.rstrip("/") + request.path
        return request.base_url

    def base_url(self) -> str:
        return (self.settings.public_base_url or _host_url(request.scheme, request.host)).rstrip("/")

    def authenticate(self) -> None:
        header = request.headers.get("Authorization")
        # Open mode answers a call without a token before any audience check, so the URL
        # the audience is made from is not worked out for it.
        audience = "" if not header and self.authenticator.mode == "open" else self.audience()
        g.caller = self.authenticator.verify(header, audience)

    def service(self, service_id: str) -> ServiceDefinition:
        service = self.services.get(service_id)
        if service is None:
            raise NotFound(f"no CDS service with id '{service_id[:100]}'")
        g.service_id = service.id
        return service

    def read_body(self) -> bytes:
        """The body of a JSON request, read whole within the limits (or the matching error)."""
        if not _is_json_content_type(request.mimetype):
            shown = request.mimetype or "none"
            raise UnsupportedMediaType(f"content type {shown!r} is not supported; send application/json")
        charset = request.mimetype_params.get("charset", "utf-8").strip().lower()
        if charset not in {"utf-8", "utf8"}:  # RFC 8259: JSON between systems is UTF-8
            raise UnsupportedMediaType(
                f"charset {charset[:40]!r} is not supported; send the JSON body as UTF-8"
            )
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        return _read_bounded(limit)


def _read_bounded(limit: int) -> bytes:
    """Read the body (chunked ones too, which arrive piecewise) but never more than limit + 1."""
    parts: list[bytes] = []
    size = 0
    connection = request.environ.get("gunicorn.socket")
    while size <= limit:
        try:
            part = request.stream.read(limit + 1 - size)
        except ClientDisconnected as exc:  # Werkzeug's name for any failed read of the body
            late = DEADLINES.finish(connection)
            if late or isinstance(exc.__context__, BlockingIOError | TimeoutError):  # receive timeout
                raise RequestTimeout("the request body stopped arriving before it was complete") from None
            raise BadRequest("the connection closed before the whole request body arrived") from None
        if not part:
            break
        parts.append(part)
        size += len(part)
    if DEADLINES.finish(connection):  # the work on the call itself is not timed
        raise RequestTimeout("the request did not arrive whole within client_request_deadline_s")
    expected = request.content_length
    if expected is not None and size < expected:  # the server saw the connection end early
        raise BadRequest("the connection closed before the whole request body arrived")
    if size > limit:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
    return b"".join(parts)

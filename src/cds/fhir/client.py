"""HTTP client for the FHIR server fallback: pooled, time-bounded, concurrent, same-origin paging.

The access token passed to `FhirClient.fetch_all` is put in a request header and nowhere
else: it is not kept on the client, not logged and never part of a failure reason.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter

from cds.config import Settings
from cds.limits import BodyRejected, read_body_bounded
from cds.logs import log_event
from cds.observe.metrics import count_fhir_fetch
from cds.reader.pages import answer_problem, envelope, is_bundle, next_page, page_entries, with_entries

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_IPV6 = re.compile(r"^[0-9a-f:.]+$")


@dataclass(frozen=True)
class Origin:
    """Scheme, host and port of a URL: the unit the token allow-list is written in."""

    scheme: str
    host: str  # lower-case ASCII; an IPv6 address without brackets
    port: int | None  # None when the URL names no port

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else _DEFAULT_PORTS[self.scheme]

    def same_as(self, other: Origin) -> bool:
        return (self.scheme, self.host, self.effective_port) == (
            other.scheme,
            other.host,
            other.effective_port,
        )

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port is not None else "")


_BRACKETED_NETLOC = re.compile(r"\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


def parse_origin(url: str) -> Origin | None:
    """The origin of an http(s) URL, or None when the URL is unusable or ambiguous.

    Refused: user info (``http://127.0.0.1@evil.example``), non-ASCII (IDN look-alikes),
    percent-encoded or otherwise odd host names, bad ports, other schemes.
    """
    if not isinstance(url, str) or not url.isascii() or any(c.isspace() or c == "\\" for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc:
        return None
    host = (parts.hostname or "").lower()
    bracketed = parts.netloc.startswith("[")
    if bracketed and not _BRACKETED_NETLOC.fullmatch(parts.netloc):
        return None  # "[::1]evil": text after the bracket that is not a port
    if not host or (bracketed and not _IPV6.match(host)) or (not bracketed and not _HOST_NAME.match(host)):
        return None
    return Origin(scheme, host, port)


def server_allowed(server: Origin, allowed: Sequence[str] | None) -> bool:
    """True if an allow-list entry is this origin: scheme, host and port (an entry without a
    port names the scheme's default port, as a web origin does)."""
    for entry in allowed or ():
        candidate = parse_origin(entry)
        if candidate is not None and candidate.same_as(server):
            return True
    return False


class FetchOutcome(StrEnum):
    """How one key's fetch ended: the metrics label (cds.observe.metrics.FHIR_OUTCOMES), set
    where the failure is detected."""

    OK = "ok"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    REFUSED = "refused"
    NOT_FOUND = "not_found"
    REDIRECT = "redirect"
    HTTP_ERROR = "http_error"
    INVALID_ANSWER = "invalid_answer"
    TOO_LARGE = "too_large"
    TOO_MANY = "too_many"
    ERROR = "error"


# What the client is told about any key the server did not provide, whatever happened on the
# network: a refused port, a reset, a timeout, an HTTP error or an answer that is not FHIR all
# read the same, so the fallback cannot be used to probe what listens where. The log line
# `fhir fallback` keeps the detail for the operator.
NOT_PROVIDED = "the FHIR server did not provide it"

_BODY_OUTCOMES = {"too_large": FetchOutcome.TOO_LARGE, "timeout": FetchOutcome.TIMEOUT}


@dataclass(frozen=True)
class FetchResult:
    """One prefetch key fetched from the FHIR server: the data, or why there is none."""

    resource: dict[str, Any] | None
    reason: str | None = None  # shown to the client: NOT_PROVIDED on any failure
    pages: int = 0
    outcome: FetchOutcome = FetchOutcome.OK
    detail: str | None = None  # what went wrong, for the log only (no URL, query or token)

    @property
    def ok(self) -> bool:
        return self.resource is not None


def _not_provided(detail: str, outcome: FetchOutcome, pages: int = 0) -> FetchResult:
    return FetchResult(None, NOT_PROVIDED, pages=pages, outcome=outcome, detail=detail)


class _Failed(Exception):
    """A key could not be fetched: the message says why (for the log), the outcome how it is
    counted."""

    def __init__(self, detail: str, outcome: FetchOutcome) -> None:
        super().__init__(detail)
        self.outcome = outcome


# Called with (base URL, request URL, response) for every FHIR answer; used to record traffic.
ResponseObserver = Callable[[str, str, requests.Response], None]


class FhirClient:
    """One per application: pooled connections and a small worker pool shared by all calls."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.observers: list[ResponseObserver] = []
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._session: requests.Session | None = None
        self._executor: ThreadPoolExecutor | None = None

    # Created lazily and per process: gunicorn forks workers from a master that built the app.
    def _resources(self) -> tuple[requests.Session, ThreadPoolExecutor]:
        with self._lock:
            if self._pid != os.getpid() or self._session is None or self._executor is None:
                size = max(1, self.settings.fhir_pool_size)
                session = requests.Session()
                session.trust_env = False  # no .netrc credentials or proxies from the environment
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=size, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._session = session
                self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="fhir-fetch")
                self._pid = os.getpid()
            return self._session, self._executor

    def close(self) -> None:
        with self._lock:
            if self._executor is not None and self._pid == os.getpid():
                self._executor.shutdown(wait=False, cancel_futures=True)
            if self._session is not None:
                self._session.close()
            self._session = self._executor = self._pid = None

    def fetch_all(
        self,
        base_url: str,
        token: str,
        queries: Mapping[str, str],
        continue_from: Mapping[str, dict[str, Any]] | None = None,
    ) -> dict[str, FetchResult]:
        """GET every query (relative to base_url) at once; whatever misses the deadline fails.

        `continue_from` holds prefetched first pages (Bundles with a `next` link) to complete:
        their next links are followed like a fetch's own, under the same deadline, page limit
        and same-origin rule, the first page counting as one."""
        started = time.monotonic()
        deadline = started + self.settings.fhir_deadline_s
        session, executor = self._resources()
        base = base_url.rstrip("/") + "/"
        futures: dict[str, Future[FetchResult]] = {
            key: executor.submit(self._fetch_key, session, base, path.lstrip("/"), token, deadline)
            for key, path in queries.items()
        }
        for key, first in (continue_from or {}).items():
            futures[key] = executor.submit(self._fetch_key, session, base, "", token, deadline, first)
        wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
        results: dict[str, FetchResult] = {}
        for key, future in futures.items():
            if future.done() and not future.cancelled():
                results[key] = future.result()  # a programming error raises here: a 500, logged
            else:
                future.cancel()  # a running fetch ends by itself: its timeouts end at the deadline
                detail = f"no answer within the {self.settings.fhir_deadline_s:g} s deadline"
                results[key] = _not_provided(detail, FetchOutcome.TIMEOUT)
        for result in results.values():
            count_fhir_fetch(result.outcome)
        log_event(
            "fhir fallback",
            server=str(parse_origin(base_url) or "?"),
            keys=sorted(queries),
            fetched=sorted(k for k, r in results.items() if r.ok),
            failed={k: f"{r.outcome}: {r.detail}" for k, r in sorted(results.items()) if not r.ok} or None,
            pages=sum(r.pages for r in results.values()),
            duration_ms=round((time.monotonic() - started) * 1000, 2),
        )
        return results

    def _fetch_key(
        self,
        session: requests.Session,
        base: str,
        path: str,
        token: str,
        deadline: float,
        first: dict[str, Any] | None = None,
    ) -> FetchResult:
        """One key: GET `path` and its next pages, or, given a `first` page already in hand
        (a partial prefetch), only the pages after it."""
        pages = 0
        try:
            origin = parse_origin(base)
            if origin is None:
                raise _Failed("FHIR server URL is not usable", FetchOutcome.ERROR)
            url = urljoin(base, path)
            merged: dict[str, Any] | None = None
            entries: list[Any] = []
            while True:
                if first is not None:
                    page, first, url = first, None, base  # a next link resolves against the base
                else:
                    page = self._get(session, base, url, token, deadline)
                pages += 1
                if not is_bundle(page):
                    return FetchResult(page, pages=pages)
                if merged is None:
                    merged = envelope(page)
                found = page_entries(page)
                if found is None:
                    raise _Failed("Bundle entry is not a list", FetchOutcome.INVALID_ANSWER)
                entries.extend(found)
                if len(entries) > self.settings.max_resources_per_key:
                    limit = self.settings.max_resources_per_key
                    raise _Failed(f"more than {limit} resources", FetchOutcome.TOO_MANY)
                next_url = _next_link(page, url)
                if next_url is None:
                    break
                next_origin = parse_origin(next_url)
                if next_origin is None or not next_origin.same_as(origin):
                    # Following it would hand the token to another server.
                    detail = "next page link points to another server; not followed"
                    raise _Failed(detail, FetchOutcome.INVALID_ANSWER)
                if pages >= max(1, self.settings.fhir_max_pages):
                    # Partial data could hide a current B12 prescription: say so instead.
                    detail = f"results span more than {self.settings.fhir_max_pages} pages"
                    raise _Failed(detail, FetchOutcome.TOO_MANY)
                url = next_url
            return FetchResult(with_entries(merged, entries), pages=pages)
        except _Failed as failure:
            # Only failures of the server, the network or the answer end up here; anything
            # else is a fault of this code and surfaces as one (the call's 500, logged).
            return _not_provided(str(failure), failure.outcome, pages)

    def _get(
        self, session: requests.Session, base: str, url: str, token: str, deadline: float
    ) -> dict[str, Any]:
        for attempt in (1, 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                detail = f"no answer within the {self.settings.fhir_deadline_s:g} s deadline"
                raise _Failed(detail, FetchOutcome.TIMEOUT)
            timeout = min(self.settings.fhir_request_timeout_s, remaining)
            try:
                response = session.get(
                    url,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
                    timeout=timeout,
                    allow_redirects=False,  # a redirect could carry the token to another server
                    stream=True,  # the body is read below, bounded in size and time
                )
                break
            except requests.Timeout:
                detail = f"FHIR server did not answer within {timeout:.2g} s"
                raise _Failed(detail, FetchOutcome.TIMEOUT) from None
            except requests.ConnectionError as exc:
                # A kept-alive connection the server closed while idle fails at once, before any
                # byte of an answer: a GET is safe to send again, once, on a new connection.
                if attempt == 1 and _closed_before_answering(exc):
                    continue
                detail = f"could not connect to the FHIR server ({_root_cause(exc)})"
                raise _Failed(detail, FetchOutcome.CONNECTION_ERROR) from None
            except requests.RequestException as exc:
                detail = f"request to the FHIR server failed ({type(exc).__name__})"
                raise _Failed(detail, FetchOutcome.ERROR) from None
        try:
            content = read_body_bounded(
                response, max_bytes=self.settings.fhir_max_response_bytes, deadline=deadline
            )
        except BodyRejected as rejected:
            outcome = _BODY_OUTCOMES.get(rejected.kind, FetchOutcome.ERROR)
            raise _Failed(f"FHIR server {rejected}", outcome) from None
        finally:
            response.close()
        # Observers (the recorder) read the body from the response as if it were not streamed.
        response._content = content  # type: ignore[attr-defined]
        response._content_consumed = True  # type: ignore[attr-defined]
        for observer in self.observers:
            observer(base, url, response)
        status = response.status_code
        if status in (401, 403):
            raise _Failed(f"FHIR server refused access ({status})", FetchOutcome.REFUSED)
        if status == 404:
            raise _Failed("FHIR server found no such resource (404)", FetchOutcome.NOT_FOUND)
        if 300 <= status < 400:
            detail = f"FHIR server redirected ({status}); redirects are not followed"
            raise _Failed(detail, FetchOutcome.REDIRECT)
        if status != 200:
            raise _Failed(f"FHIR server answered {status}", FetchOutcome.HTTP_ERROR)
        try:
            # Strict like the request parser: a lone surrogate escape, NaN or Infinity would
            # otherwise reach the cards and fail when the answer is written (a 500).
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise _Failed("FHIR server answer is not JSON", FetchOutcome.INVALID_ANSWER) from None
        problem = answer_problem(body)
        if problem is not None:
            raise _Failed(problem, FetchOutcome.INVALID_ANSWER)
        return body


_CLOSED_BEFORE_ANSWER = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
)


def _closed_before_answering(error: BaseException) -> bool:
    """Whether the connection was closed or reset before any byte of an answer came back
    (RemoteDisconnected is http.client's "closed connection without response")."""
    seen: list[BaseException] = [error]
    index = 0
    while index < min(len(seen), 16):  # requests and urllib3 wrap the cause a few levels deep
        current = seen[index]
        index += 1
        if isinstance(current, _CLOSED_BEFORE_ANSWER):
            return True
        seen.extend(
            item
            for item in (current.__cause__, current.__context__, *current.args)
            if isinstance(item, BaseException) and item not in seen
        )
    return False


def _root_cause(error: BaseException) -> str:
    """The name of the innermost error (ConnectionRefusedError, RemoteDisconnected...): for the
    log, where the operator needs to tell a closed port from a server that hung up."""
    seen: list[BaseException] = [error]
    while len(seen) < 16:  # requests and urllib3 wrap the cause a few levels deep
        current = seen[-1]
        inner = current.__cause__ or current.__context__
        if inner is None:
            inner = next((a for a in current.args if isinstance(a, BaseException)), None)
        if inner is None or inner in seen:
            break
        seen.append(inner)
    return type(seen[-1]).__name__


def _next_link(bundle: dict[str, Any], current_url: str) -> str | None:
    try:
        return next_page(bundle, current_url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise _Failed("next page link is not a URL", FetchOutcome.INVALID_ANSWER) from None


def warn_server_not_allowed(server: str) -> None:
    """Log the refused server's origin only: never the full URL, never the token."""
    origin = parse_origin(server)
    count_fhir_fetch("not_allowed")
    log_event(
        "fhir server not on the allow-list; access token not sent",
        logging.WARNING,
        server=str(origin) if origin else "(unparseable URL)",
    )

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


def server_allowed(server: Origin, allowed: Sequence[str]) -> bool:
    """True if an allow-list entry names this origin; an entry without a port allows any port."""
    for entry in allowed:
        candidate = parse_origin(entry)
        if candidate is None or (candidate.scheme, candidate.host) != (server.scheme, server.host):
            continue
        if candidate.port is None or candidate.effective_port == server.effective_port:
            return True
    return False


@dataclass(frozen=True)
class FetchResult:
    """One prefetch key fetched from the FHIR server: the data, or why there is none."""

    resource: dict[str, Any] | None
    reason: str | None = None  # short, without URL, query string or token
    pages: int = 0
    outcome: str = "ok"  # the metrics label: "ok" or why it failed

    @property
    def ok(self) -> bool:
        return self.resource is not None


class _Failed(Exception):
    """A key could not be fetched; the message is the reason shown to the client, the outcome
    one of the bounded names it is counted under (cds.observe.metrics.FHIR_OUTCOMES)."""

    def __init__(self, reason: str, outcome: str) -> None:
        super().__init__(reason)
        self.outcome = outcome


def _body_outcome(reason: str) -> str:
    if "larger than" in reason:
        return "too_large"
    return "timeout" if "in time" in reason else "error"


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
                results[key] = future.result()
            else:
                future.cancel()  # a running fetch ends by itself: its timeouts end at the deadline
                reason = f"no answer within the {self.settings.fhir_deadline_s:g} s deadline"
                results[key] = FetchResult(None, reason, outcome="timeout")
        for result in results.values():
            count_fhir_fetch(result.outcome)
        log_event(
            "fhir fallback",
            server=str(parse_origin(base_url) or "?"),
            keys=sorted(queries),
            fetched=sorted(k for k, r in results.items() if r.ok),
            failed={k: r.reason for k, r in sorted(results.items()) if not r.ok} or None,
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
                raise _Failed("FHIR server URL is not usable", "error")
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
                entries.extend(page_entries(page))
                if len(entries) > self.settings.max_resources_per_key:
                    raise _Failed(f"more than {self.settings.max_resources_per_key} resources", "too_many")
                next_url = next_page(page, url)
                if next_url is None:
                    break
                next_origin = parse_origin(next_url)
                if next_origin is None or not next_origin.same_as(origin):
                    # Following it would hand the token to another server.
                    raise _Failed("next page link points to another server; not followed", "invalid_answer")
                if pages >= max(1, self.settings.fhir_max_pages):
                    # Partial data could hide a current B12 prescription: say so instead.
                    raise _Failed(f"results span more than {self.settings.fhir_max_pages} pages", "too_many")
                url = next_url
            return FetchResult(with_entries(merged, entries), pages=pages)
        except _Failed as failure:
            return FetchResult(None, str(failure), pages=pages, outcome=failure.outcome)
        except Exception as exc:  # a worker must always hand back a result, never raise
            return FetchResult(None, f"fetch failed ({type(exc).__name__})", pages=pages, outcome="error")

    def _get(
        self, session: requests.Session, base: str, url: str, token: str, deadline: float
    ) -> dict[str, Any]:
        for attempt in (1, 2):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Failed(f"no answer within the {self.settings.fhir_deadline_s:g} s deadline", "timeout")
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
                raise _Failed(f"FHIR server did not answer within {timeout:.2g} s", "timeout") from None
            except requests.ConnectionError as exc:
                # A kept-alive connection the server closed while idle fails at once, before any
                # byte of an answer: a GET is safe to send again, once, on a new connection.
                if attempt == 1 and _closed_before_answering(exc):
                    continue
                raise _Failed("could not connect to the FHIR server", "connection_error") from None
            except requests.RequestException as exc:
                raise _Failed(f"request to the FHIR server failed ({type(exc).__name__})", "error") from None
        try:
            content = read_body_bounded(
                response, max_bytes=self.settings.fhir_max_response_bytes, deadline=deadline
            )
        except BodyRejected as rejected:
            raise _Failed(f"FHIR server {rejected}", _body_outcome(str(rejected))) from None
        finally:
            response.close()
        # Observers (the recorder) read the body from the response as if it were not streamed.
        response._content = content  # type: ignore[attr-defined]
        response._content_consumed = True  # type: ignore[attr-defined]
        for observer in self.observers:
            observer(base, url, response)
        status = response.status_code
        if status in (401, 403):
            raise _Failed(f"FHIR server refused access ({status})", "refused")
        if status == 404:
            raise _Failed("FHIR server found no such resource (404)", "not_found")
        if 300 <= status < 400:
            raise _Failed(f"FHIR server redirected ({status}); redirects are not followed", "redirect")
        if status != 200:
            raise _Failed(f"FHIR server answered {status}", "http_error")
        try:
            # Strict like the request parser: a lone surrogate escape, NaN or Infinity would
            # otherwise reach the cards and fail when the answer is written (a 500).
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise _Failed("FHIR server answer is not JSON", "invalid_answer") from None
        problem = answer_problem(body)
        if problem is not None:
            raise _Failed(problem, "invalid_answer")
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


def warn_server_not_allowed(server: str) -> None:
    """Log the refused server's origin only: never the full URL, never the token."""
    origin = parse_origin(server)
    count_fhir_fetch("not_allowed")
    log_event(
        "fhir server not on the allow-list; access token not sent",
        logging.WARNING,
        server=str(origin) if origin else "(unparseable URL)",
    )

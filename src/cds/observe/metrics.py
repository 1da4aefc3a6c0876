"""Prometheus metrics: their definitions and the one place label values are bounded.

Under `cds serve` every worker writes its counts to files in PROMETHEUS_MULTIPROC_DIR (set
up before this module is imported) and a scrape adds them up; elsewhere (tests, tools) the
counts live in this process. Label values are never taken from a request as sent: service
ids, topics, indicators and outcomes are checked against known sets first, so no patient
data or token can reach a label and the number of series stays bounded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

UNKNOWN = "unknown"
OTHER = "other"
NONE = "none"  # endpoints that belong to no service (discovery, health, pages)

# A call takes about 1-3 ms in process; the FHIR fallback has a 2 s budget.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "cds_requests",
    "HTTP requests answered, by endpoint kind, service and status code",
    ("endpoint", "service", "status"),
)
LATENCY = Histogram(
    "cds_request_duration_seconds",
    "Time to answer a service call or feedback, from routing to response, by service",
    ("endpoint", "service"),
    buckets=_LATENCY_BUCKETS,
)
CARDS = Counter(
    "cds_cards",
    "Cards returned, by service, topic code and indicator",
    ("service", "topic", "indicator"),
)
FHIR_FETCHES = Counter(
    "cds_fhir_fetches",
    "Prefetch keys fetched from the FHIR server, by outcome",
    ("outcome",),
)
AUTH_FAILURES = Counter(
    "cds_auth_failures",
    "Calls refused by authentication, by the check that failed",
    ("check",),
)
AUDIT_DROPPED = Counter(
    "cds_audit_records_dropped",
    "Audit records (one per call answered) dropped unwritten: the database was away for longer "
    "than audit_queue_size calls",
)
FEEDBACK_ITEMS = Counter(
    "cds_feedback_items",
    "Feedback items stored, by service and outcome",
    ("service", "outcome"),
)

INDICATORS = frozenset({"info", "warning", "critical"})
FEEDBACK_OUTCOMES = frozenset({"accepted", "overridden"})
# Every outcome FHIR fetches are counted under (see cds.fhir.client).
FHIR_OUTCOMES = frozenset(
    {
        "ok",
        "timeout",
        "connection_error",
        "refused",
        "not_found",
        "redirect",
        "http_error",
        "invalid_answer",
        "too_large",
        "too_many",
        "not_allowed",
        "error",
    }
)
_CHECK_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def bounded(value: object, known: Collection[str], fallback: str = OTHER) -> str:
    """`value` when it is one of the known label values, otherwise the fallback."""
    return value if isinstance(value, str) and value in known else fallback


def _children(metric: Any) -> Callable[..., Any]:
    """metric.labels(...) remembered per label values: prometheus_client's own lookup takes a
    lock and re-checks the values on every call, several microseconds on the served path.
    Label values are bounded, so the dictionary is too; a race only looks a child up twice."""
    cache: dict[tuple[str, ...], Any] = {}

    def child(*values: str) -> Any:
        found = cache.get(values)
        if found is None:
            found = cache[values] = metric.labels(*values)
        return found

    return child


_request = _children(REQUESTS)
_latency = _children(LATENCY)
_card = _children(CARDS)
_fhir = _children(FHIR_FETCHES)
_auth = _children(AUTH_FAILURES)
_feedback = _children(FEEDBACK_ITEMS)


def count_request(endpoint: str, service: str, status: int, seconds: float | None) -> None:
    """One answered request; `seconds` (for calls and feedback) goes into the histogram."""
    _request(endpoint, service, str(status)).inc()
    if seconds is not None:
        _latency(endpoint, service).observe(seconds)


def count_card(service: str, topic: str, indicator: str) -> None:
    _card(service, topic, indicator).inc()


def count_feedback(service: str, outcome: str) -> None:
    _feedback(service, bounded(outcome, FEEDBACK_OUTCOMES)).inc()


def count_fhir_fetch(outcome: str) -> None:
    _fhir(bounded(outcome, FHIR_OUTCOMES, "error")).inc()


def count_audit_dropped(records: int) -> None:
    AUDIT_DROPPED.inc(records)


def count_auth_failure(check: str) -> None:
    # Check names are identifiers chosen in code; the pattern guards against a future slip.
    _auth(check if _CHECK_NAME.fullmatch(check) else OTHER).inc()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> bytes:
    """The current counts in Prometheus text format: every worker's under `cds serve`."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def mark_worker_exit(pid: int) -> None:
    """A worker ended: drop its live-gauge files (its counts stay, as Prometheus expects)."""
    if multiprocess_dir():
        _multiprocess.mark_process_dead(pid)

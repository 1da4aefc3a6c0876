"""Structured JSON logs. Never log tokens, JWTs or patient resources: only the fields given."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

_LOGGER_NAME = "cds"

# The hookInstance of the call this thread is answering: every line logged during the call
# carries it, so an operator can gather one call's lines (FHIR fallback, errors, the request).
_CALL_ID: ContextVar[str | None] = ContextVar("cds_hook_instance", default=None)


def set_call_id(hook_instance: str | None) -> None:
    _CALL_ID.set(hook_instance)


_last_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def _timestamp(created: float, msecs: float) -> str:
    """ISO 8601 UTC with milliseconds; the seconds part is formatted once per second."""
    global _last_second
    second = int(created)
    last = _last_second  # one tuple, replaced whole: threads never see half of an update
    if last[0] != second:
        last = _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{last[1]}.{int(msecs):03d}Z"


# Line breaks that JSON leaves raw (it escapes only U+0000-U+001F) but that tools splitting on
# Unicode line boundaries (Python's str.splitlines, JavaScript, many log shippers) break at.
_RAW_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _dumps(entry: dict[str, Any]) -> str:
    try:  # orjson: compact like separators=(",", ":"), and several times faster
        text = orjson.dumps(entry, default=str).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):  # e.g. an integer beyond 64 bits
        text = json.dumps(entry, separators=(",", ":"), default=str)
    # Each break is only ever inside a JSON string, where its \u escape means the same.
    return text if text.isascii() else text.translate(_RAW_LINE_BREAKS)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created, record.msecs),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "pid": record.process,  # which worker: one process's lines read in order
        }
        if record.name != _LOGGER_NAME:  # gunicorn's own lines and any library's
            entry["logger"] = record.name
        call_id = _CALL_ID.get()
        if call_id is not None:
            entry["hookInstance"] = call_id
        fields = getattr(record, "fields", None)
        if fields:
            entry.update({k: v for k, v in fields.items() if v is not None})
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: a traceback could quote request data.
            entry["error_type"] = record.exc_info[0].__name__
        return _dumps(entry)


def configure_logging(level: str = "INFO") -> logging.Logger:
    logger = logging.getLogger(_LOGGER_NAME)
    if not any(getattr(h, "_cds", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._cds = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return logger


_LOGGER = logging.getLogger(_LOGGER_NAME)


def log_enabled(level: int = logging.INFO) -> bool:
    """Whether a line at this level would be written: skip building one that would not."""
    return _LOGGER.isEnabledFor(level)


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    _LOGGER.log(level, event, extra={"fields": fields})


def database_error(exc: BaseException) -> str:
    """A database error in one short line for the log: the driver's text may go on to quote
    the statement and its parameters (patient data), so only what comes before is kept."""
    return str(exc).split("\n", 1)[0].split("[SQL:", 1)[0][:200]

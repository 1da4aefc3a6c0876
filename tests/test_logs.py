"""JSON log lines: one JSON object per line, whatever the fields hold."""

from __future__ import annotations

import io
import json
import logging
import re

from flask.testing import FlaskClient

from cds.logs import JsonFormatter, database_error, set_call_id
from tests.conftest import patient_view_request


def _line(**fields: object) -> dict[str, object]:
    record = logging.LogRecord("cds", logging.INFO, __file__, 1, "request", None, None)
    record.fields = fields
    set_call_id("call-1")
    try:
        text = JsonFormatter().format(record)
    finally:
        set_call_id(None)
    assert "\n" not in text
    return json.loads(text)


def test_fields_timestamp_and_call_id() -> None:
    entry = _line(status=200, duration_ms=1.25, service="deficiency-screen", cards=None)
    assert entry["event"] == "request" and entry["level"] == "info"
    assert entry["status"] == 200 and entry["duration_ms"] == 1.25
    assert "cards" not in entry  # None fields are left out
    assert entry["hookInstance"] == "call-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(entry["ts"]))


def test_values_json_cannot_hold_directly_are_still_written() -> None:
    huge = 2**70  # beyond the 64-bit integers the fast encoder takes
    entry = _line(count=huge, path="/caf\u00e9\nx", thing=object, tags={"a"})
    assert entry["count"] == huge
    assert entry["path"] == "/caf\u00e9\nx"  # a newline in a value stays escaped on one line
    assert entry["thing"] == str(object)
    assert entry["tags"] == "{'a'}"


def test_a_call_id_does_not_outlive_its_request(client: FlaskClient) -> None:
    # The test client answers on this thread, as a served worker's thread answers many calls.
    body = patient_view_request(hookInstance="00000000-0000-4000-8000-00000000d0e1")
    answer = client.post("/cds-services/deficiency-screen", json=body)
    assert answer.status_code == 200
    record = logging.LogRecord("cds", logging.INFO, __file__, 1, "after the call", None, None)
    assert "hookInstance" not in json.loads(JsonFormatter().format(record))


def test_unicode_line_separators_are_escaped_in_every_field(client: FlaskClient) -> None:
    # JSON itself leaves U+2028, U+2029 and U+0085 raw; tools that split on Unicode line breaks
    # (str.splitlines, JavaScript) would cut the line there.
    breaks = "a\u2028b\u2029c\x85d"
    record = logging.LogRecord("cds", logging.INFO, __file__, 1, f"event {breaks}", None, None)
    record.fields = {"path": f"/x{breaks}", "nested": {"k": breaks}}
    set_call_id(f"call{breaks}")
    try:
        text = JsonFormatter().format(record)
    finally:
        set_call_id(None)
    assert text.splitlines() == [text]
    assert not any(ch in text for ch in "\u2028\u2029\x85")
    entry = json.loads(text)
    assert entry["event"] == f"event {breaks}" and entry["hookInstance"] == f"call{breaks}"
    assert entry["path"] == f"/x{breaks}" and entry["nested"] == {"k": breaks}

    # Through the service: a hookInstance and a path carrying them give one line each.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("cds").addHandler(handler)
    try:
        body = patient_view_request(hookInstance=f"hook{breaks}")
        client.post("/cds-services/deficiency-screen", json=body)
        client.get(f"/no/such{breaks}")
    finally:
        logging.getLogger("cds").removeHandler(handler)
    written = stream.getvalue()
    lines = [line for line in written.splitlines() if line]
    assert lines and all(json.loads(line) for line in lines)
    assert any(json.loads(line).get("hookInstance") == f"hook{breaks}"[:64] for line in lines)
    assert any(json.loads(line).get("path") == f"/no/such{breaks}" for line in lines)


def test_a_database_error_is_logged_without_the_statement_it_quotes() -> None:
    error = RuntimeError(
        "(psycopg.errors.AdminShutdown) terminating connection [SQL: INSERT INTO card_audit "
        "VALUES (%(patient_key)s)]\n[parameters: {'patient_key': 'Patient/123'}]"
    )
    assert database_error(error) == "(psycopg.errors.AdminShutdown) terminating connection "
    assert len(database_error(RuntimeError("x" * 1000))) == 200

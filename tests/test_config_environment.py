"""CDS_* variables that are no setting: named in one warning line, never a reason to stop."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cds.config import ConfigError, ignored_variables, load_settings
from cds.logs import JsonFormatter

# What Kubernetes puts into every container of a namespace with a Service named `cds`.
KUBERNETES_SERVICE_LINKS = {
    "CDS_SERVICE_HOST": "10.96.0.12",
    "CDS_SERVICE_PORT": "8080",
    "CDS_SERVICE_PORT_HTTP": "8080",
    "CDS_PORT": "tcp://10.96.0.12:8080",
    "CDS_PORT_8080_TCP": "tcp://10.96.0.12:8080",
    "CDS_PORT_8080_TCP_PROTO": "tcp",
    "CDS_PORT_8080_TCP_PORT": "8080",
    "CDS_PORT_8080_TCP_ADDR": "10.96.0.12",
}


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines() -> Iterator[list[dict]]:
    """The JSON lines the `cds` logger writes while the test runs."""
    logger = logging.getLogger("cds")
    handler, level = _Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _warnings(lines: list[dict]) -> list[dict]:
    return [e for e in lines if e["level"] == "warning" and e["event"].startswith("configuration:")]


def test_a_misspelt_setting_is_named_in_one_warning_line_and_the_rest_still_applies(
    log_lines: list[dict],
) -> None:
    secret = "hmac-key-value-0123"
    settings = load_settings(environ={"CDS_AUDIT_SECRT": secret, "CDS_PROT": "9000", "CDS_WORKERS": "3"})
    assert settings.workers == 3 and settings.audit_secret == "" and settings.port == 8080
    [warning] = _warnings(log_lines)
    assert warning["ignored"] == ["CDS_AUDIT_SECRT", "CDS_PROT"]
    assert "CDS_AUDIT_SECRT (no such setting)" in warning["event"]
    assert "docs/configuration.md" in warning["event"]
    assert secret not in json.dumps(warning)  # names only: the value could be a secret


def test_settings_and_the_variables_read_by_name_give_no_warning(log_lines: list[dict]) -> None:
    environ = {"CDS_PORT": "9100", "CDS_CONFIG": "", "CDS_REPLAY_TOKEN": "t", "CDS_ISSUERS": "[]"}
    assert load_settings(environ=environ).port == 9100
    assert ignored_variables(environ) == {}
    assert _warnings(log_lines) == []


def test_kubernetes_service_links_do_not_stop_start_up_and_only_the_port_one_is_named(
    log_lines: list[dict],
) -> None:
    environ = {**KUBERNETES_SERVICE_LINKS, "CDS_WORKERS": "3"}
    settings = load_settings(environ=environ)  # CDS_PORT=tcp://... used to stop start-up
    assert settings.port == 8080 and settings.workers == 3
    assert load_settings(environ=environ, port=9000).port == 9000  # `cds serve --port` still wins
    [warning, _second] = _warnings(log_lines)
    assert warning["ignored"] == ["CDS_PORT"]
    assert "Kubernetes service link" in warning["event"]


def test_a_port_that_is_no_service_link_is_still_checked() -> None:
    with pytest.raises(ConfigError, match="'port'"):
        load_settings(environ={"CDS_PORT": "http://10.0.0.1:8080"})


def test_a_lower_case_name_is_named_with_the_name_that_would_be_read() -> None:
    assert ignored_variables({"cds_workers": "3", "Cds_Nothing": "1", "OTHER": "x"}) == {
        "Cds_Nothing": "no such setting",
        "cds_workers": "settings are read from upper-case names: CDS_WORKERS",
    }


def test_the_retired_docs_base_url_is_ignored_with_a_warning_from_either_place(
    tmp_path: Path, log_lines: list[dict]
) -> None:
    config = tmp_path / "cds.toml"
    config.write_text('docs_base_url = "https://docs.example.org"\nport = 9000\n')
    assert load_settings(config, environ={"CDS_DOCS_BASE_URL": "https://docs.example.org"}).port == 9000
    [warning] = _warnings(log_lines)
    assert warning["ignored"] == ["CDS_DOCS_BASE_URL", f"docs_base_url in {config}"]
    assert "setting 'docs_base_url' was removed: nothing read it" in warning["event"]


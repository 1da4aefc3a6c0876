"""Configuration: defaults, TOML file, environment, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.config import ConfigError, load_settings


def test_embedded_defaults_serve_locally_in_open_mode() -> None:
    settings = load_settings(environ={})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.auth_mode == "open"
    assert settings.max_body_bytes == 5 * 1024 * 1024
    assert settings.fhir_deadline_s == 2.0
    assert Path(settings.hooks_dir, "deficiency-screen.json").is_file()


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    config = tmp_path / "cds.toml"
    config.write_text(
        'port = 9000\nmax_body_bytes = 1000\nfhir_allowed_servers = ["https://fhir.example.org"]\n'
        "[cutoff_overrides]\nb12_total_deficient = 200\n"
    )
    settings = load_settings(config, environ={"CDS_PORT": "9100"}, workers=3)
    assert settings.port == 9100  # environment beats the file
    assert settings.max_body_bytes == 1000
    assert settings.workers == 3
    assert settings.fhir_allowed_servers == ("https://fhir.example.org",)
    assert settings.cutoff_overrides == {"b12_total_deficient": 200.0}


def test_environment_lists_and_booleans() -> None:
    settings = load_settings(
        environ={
            "CDS_FHIR_ALLOWED_SERVERS": "https://a.example, https://b.example",
            "CDS_PREVIEW_ENABLED": "off",
        }
    )
    assert settings.fhir_allowed_servers == ("https://a.example", "https://b.example")
    assert settings.preview_enabled is False


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CDS_PORT": "eighty"}, "'port'"),
        ({"CDS_MAX_BODY_BYTES": "-1"}, "'max_body_bytes': expected a whole number from 1 up, got '-1'"),
        ({"CDS_PREVIEW_ENABLED": "perhaps"}, "true or false"),
        ({"CDS_AUTH_MODE": "sometimes"}, "'auth_mode'"),
        ({"CDS_AUTH_MODE": "jwt"}, "no [[issuers]]"),
        ({"CDS_ISSUERS": "[{"}, "CDS_ISSUERS"),
        ({"CDS_ISSUERS": '[{"iss": "https://ehr.example"}]'}, "jwks_url"),
    ],
)
def test_invalid_settings_name_the_problem(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(environ=environ)


def test_unknown_setting_in_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "cds.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings(config, environ={})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file"):
        load_settings(tmp_path / "absent.toml", environ={})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"workers": 0}, "setting 'workers': expected a whole number from 1 to 256, got 0"),
        ({"threads": True}, "setting 'threads': expected a whole number"),
        ({"port": 70000}, "setting 'port': expected a whole number from 1 to 65535"),
        ({"log_level": "LOUD"}, "'log_level': expected one of 'DEBUG', 'INFO', 'WARNING', 'ERROR'"),
        ({"fhir_deadline_s": -1}, "setting 'fhir_deadline_s': expected a number of seconds greater than 0"),
        ({"fhir_request_timeout_s": float("nan")}, "'fhir_request_timeout_s': expected a number of seconds"),
        ({"client_read_timeout_s": -1}, "'client_read_timeout_s': expected a number of seconds, at least 0"),
        ({"max_json_depth": 0}, "setting 'max_json_depth'"),
        ({"recent_months": 0}, "setting 'recent_months'"),
        ({"public_base_url": "cds.example.org"}, "'public_base_url': expected an http:// or https:// URL"),
        ({"data_dir": ""}, "setting 'data_dir': expected non-empty text"),
        ({"cutoff_overrides": {"b12_total_deficient": "low"}}, "setting 'cutoff_overrides'"),
        ({"prot": 1}, "unknown setting 'prot'"),
    ],
)
def test_every_setting_has_a_type_and_range(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, **changes)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_values_from_the_environment_are_checked_after_conversion() -> None:
    environ = {"CDS_WORKERS": "3", "CDS_LOG_LEVEL": "debug", "CDS_FHIR_DEADLINE_S": "2.5"}
    settings = load_settings(environ=environ)
    assert (settings.workers, settings.log_level, settings.fhir_deadline_s) == (3, "DEBUG", 2.5)
    with pytest.raises(ConfigError, match="'workers'"):
        load_settings(environ={"CDS_WORKERS": "0"})
    with pytest.raises(ConfigError, match="'workers'"):
        settings.with_overrides(workers=-2)


def test_secrets_stay_out_of_the_settings_repr() -> None:
    token = "admin-s3cret-0123456789abcdef01234"
    settings = load_settings(environ={"CDS_ADMIN_TOKEN": token, "CDS_AUDIT_SECRET": "hmac-k3y"})
    assert settings.admin_token == token and settings.audit_secret == "hmac-k3y"
    assert token not in repr(settings) and "hmac-k3y" not in repr(settings)

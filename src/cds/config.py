"""Service configuration: embedded defaults, then a TOML file, then environment variables.

Every setting is documented in docs/configuration.md. Scalars can be set from the
environment as ``CDS_<NAME>`` (upper case); structured settings (trusted issuers,
cut-off overrides) come from the TOML file named by ``--config`` or ``CDS_CONFIG``.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

_REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_hooks_dir() -> str:
    # A source checkout (and the Docker image) keeps service definitions in <root>/hooks.
    candidate = _REPO_ROOT / "hooks"
    return str(candidate if candidate.is_dir() else Path.cwd() / "hooks")


def _default_data_dir() -> str:
    # Per user and outside any checkout (XDG base directories); the Docker image sets /data.
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "myelin-cds")


# Settings that existed before the one database; naming one says what replaced it.
_REMOVED = {
    "feedback_db": "feedback is kept in the database named by 'database_url'",
    "jwt_replay_db": "used JWT ids are kept in the database named by 'database_url'",
}


def _default_fixtures_dir() -> str:
    candidate = _REPO_ROOT / "fixtures"
    return str(candidate if candidate.is_dir() else Path.cwd() / "fixtures")


@dataclass(frozen=True)
class IssuerConfig:
    """One trusted EHR: its `iss`, where its public keys live and what it may sign with."""

    iss: str
    jwks_url: str | None = None
    jwks_file: str | None = None
    algorithms: tuple[str, ...] = ("RS384", "ES384", "RS256", "ES256")
    tenants: tuple[str, ...] = ()


class ConfigError(ValueError):
    """The configuration is invalid; the message says which setting and why."""


@dataclass(frozen=True)
class Settings:
    # --- HTTP server
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    threads: int = 2  # CPU-bound calls: more threads per worker only add GIL contention
    public_base_url: str | None = None  # e.g. https://cds.example.org behind a proxy
    cors_allow_origin: str = "*"
    log_level: str = "INFO"

    # --- services
    hooks_dir: str = field(default_factory=_default_hooks_dir)
    docs_base_url: str = "https://myelin-cds.github.io/myelin-cds"

    # --- input limits
    max_body_bytes: int = 5 * 1024 * 1024
    max_json_depth: int = 64
    max_resources_per_key: int = 10_000
    client_read_timeout_s: float = 5.0  # a client silent this long mid-request is dropped; 0: never
    client_request_deadline_s: float = 10.0  # a request not received whole by then is dropped; 0: never

    # --- FHIR server fallback
    fhir_allowed_servers: tuple[str, ...] = (
        "http://127.0.0.1",
        "http://localhost",
        "http://[::1]",
    )
    fhir_request_timeout_s: float = 1.5
    fhir_deadline_s: float = 2.0
    fhir_max_pages: int = 5
    fhir_pool_size: int = 16
    fhir_max_response_bytes: int = 10 * 1024 * 1024  # per answer (one page), decompressed

    # --- trust (JWT)
    auth_mode: str = "open"  # "open": calls without a token are accepted; "jwt": required
    issuers: tuple[IssuerConfig, ...] = ()
    jwt_clock_skew_s: int = 60
    jwt_max_lifetime_s: int = 3600
    jwks_cache_s: int = 3600
    jwks_fetch_timeout_s: float = 2.0

    # --- guideline
    recent_months: int = 12
    cutoff_overrides: dict[str, float] = field(default_factory=dict)

    # --- storage: one database for feedback, used JWT ids and the card audit
    database_url: str = ""  # SQLAlchemy URL; empty: an SQLite file in data_dir
    data_dir: str = field(default_factory=_default_data_dir)

    # --- pages
    preview_enabled: bool = True
    fixtures_dir: str = field(default_factory=_default_fixtures_dir)

    # --- governance: which rules show, the audit of every card, the committee's figures
    topic_modes: dict[str, str] = field(default_factory=dict)  # topic code -> active|silent|off
    audit_secret: str = ""  # HMAC key of patient pseudonyms; empty: generated once, kept in the database
    audit_queue_size: int = 10_000  # cards waiting to be written; a full queue writes in the caller
    audit_flush_s: float = 1.0  # how often the background writer empties the queue
    retention_days: int = 730  # audit and feedback older than this are purged; 0 keeps everything
    fatigue_window: int = 50  # the most recent shown cards of a topic the fatigue flag looks at
    fatigue_threshold: float = 0.7  # override rate over that window that flags a fatigue risk
    fatigue_min_cards: int = 10  # fewer recent cards than this never flag
    admin_token: str = ""  # bearer token of /admin/report; empty: the dashboard is off (404)

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)




def _coerce(name: str, raw: Any, target: Any) -> Any:
    """Convert a file or environment value to the type of the default, or fail clearly."""
    kind = type(target) if target is not None else str
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"expected true or false, got {raw!r}")
        if kind is tuple:
            if isinstance(raw, str):
                raw = [part.strip() for part in raw.split(",") if part.strip()]
            if not isinstance(raw, list | tuple):
                raise ValueError("expected a list")
            return tuple(str(item) for item in raw)
        if kind is dict:
            if isinstance(raw, str):
                raw = json.loads(raw)
            if not isinstance(raw, dict):
                raise ValueError("expected a table of name = number")
            return {str(k): float(v) for k, v in raw.items()}
        if kind in (int, float):
            if isinstance(raw, bool):
                raise ValueError("expected a number")
            value = kind(raw)
            if value < 0:
                raise ValueError("must not be negative")
            return value
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: {exc}") from None


def _parse_issuers(raw: Any) -> tuple[IssuerConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError("setting 'issuers': expected a list of [[issuers]] tables")
    result = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("iss"), str):
            raise ConfigError(f"setting 'issuers'[{index}]: needs an 'iss' string")
        if not item.get("jwks_url") and not item.get("jwks_file"):
            raise ConfigError(f"issuer {item['iss']!r}: needs 'jwks_url' or 'jwks_file'")
        algorithms = tuple(item.get("algorithms") or IssuerConfig.algorithms)
        result.append(
            IssuerConfig(
                iss=item["iss"],
                jwks_url=item.get("jwks_url"),
                jwks_file=item.get("jwks_file"),
                algorithms=algorithms,
                tenants=tuple(item.get("tenants") or ()),
            )
        )
    return tuple(result)


TOPIC_MODES = ("active", "silent", "off")


def _parse_topic_modes(raw: Any) -> dict[str, str]:
    """Topic code -> mode. The codes are checked against the card catalog at start-up."""
    if not isinstance(raw, dict):
        raise ConfigError("setting 'topic_modes': expected a table of topic code = mode")
    bad = {str(k): v for k, v in raw.items() if v not in TOPIC_MODES}
    if bad:
        shown = ", ".join(f"{k} = {v!r}" for k, v in sorted(bad.items()))
        raise ConfigError(
            f"setting 'topic_modes': unknown mode for {shown} (expected {', '.join(TOPIC_MODES)})"
        )
    return {str(k): str(v) for k, v in raw.items()}


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings from defaults, an optional TOML file, ``CDS_*`` variables and overrides."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    values: dict[str, Any] = {}
    known = {f.name: f for f in fields(Settings)}

    path = config_file or env.get("CDS_CONFIG")
    if path:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
        for name, raw in data.items():
            if name in _REMOVED:
                raise ConfigError(f"config file {path}: setting {name!r} was removed: {_REMOVED[name]}")
            if name == "issuers":
                values["issuers"] = _parse_issuers(raw)
            elif name == "topic_modes":
                values["topic_modes"] = _parse_topic_modes(raw)
            elif name in known:
                values[name] = _coerce(name, raw, getattr(defaults, name))
            else:
                raise ConfigError(f"config file {path}: unknown setting {name!r}")

    for name, replacement in _REMOVED.items():
        if f"CDS_{name.upper()}" in env:
            raise ConfigError(f"CDS_{name.upper()}: setting {name!r} was removed: {replacement}")
    for name in known:
        env_name = f"CDS_{name.upper()}"
        if env_name in env and name == "topic_modes":
            try:
                values["topic_modes"] = _parse_topic_modes(json.loads(env[env_name]))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"CDS_TOPIC_MODES: not JSON ({exc})") from None
        elif env_name in env and name != "issuers":
            values[name] = _coerce(name, env[env_name], getattr(defaults, name))
    if "CDS_ISSUERS" in env:
        try:
            values["issuers"] = _parse_issuers(json.loads(env["CDS_ISSUERS"]))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"CDS_ISSUERS: not JSON ({exc})") from None

    values.update(overrides)
    if "topic_modes" in overrides:
        values["topic_modes"] = _parse_topic_modes(overrides["topic_modes"])
    settings = replace(defaults, **values)
    if not 0 < settings.fatigue_threshold <= 1:
        raise ConfigError(
            "setting 'fatigue_threshold': expected a rate above 0 and at most 1, "
            f"got {settings.fatigue_threshold}"
        )
    if settings.auth_mode not in {"open", "jwt"}:
        raise ConfigError(f"setting 'auth_mode': expected 'open' or 'jwt', got {settings.auth_mode!r}")
    if settings.auth_mode == "jwt" and not settings.issuers:
        raise ConfigError("setting 'auth_mode' is 'jwt' but no [[issuers]] are configured")
    return settings

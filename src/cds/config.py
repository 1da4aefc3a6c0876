"""Service configuration: embedded defaults, then a TOML file, then environment variables.

Every setting is documented in docs/configuration.md. Each can be set from the environment as
``CDS_<NAME>`` (upper case; lists comma-separated, tables and trusted issuers as JSON) or in the
TOML file named by ``--config`` or ``CDS_CONFIG``. Each setting declares its type and accepted
values (checked when Settings is built, so at start-up): a bad value, an unknown setting in the
file or a removed setting whose data moved is one ConfigError line naming the setting and what
it accepts. A ``CDS_*`` variable that is no setting cannot stop start-up (a platform may set
such variables, see `ignored_variables`); it is named in one warning line instead.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass as checked_dataclass

from cds.logs import log_event

_REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_hooks_dir() -> str:
    # A source checkout (and the Docker image) keeps service definitions in <root>/hooks.
    candidate = _REPO_ROOT / "hooks"
    return str(candidate if candidate.is_dir() else Path.cwd() / "hooks")


def _default_data_dir() -> str:
    # Per user and outside any checkout (XDG base directories); the Docker image sets /data.
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "myelin-cds")


# Settings that existed before the one database; naming one says what replaced it, and stops
# start-up: the data they named is no longer where they say.
_REMOVED = {
    "feedback_db": "feedback is kept in the database named by 'database_url'",
    "jwt_replay_db": "used JWT ids are kept in the database named by 'database_url'",
}
# Settings that were removed because nothing read them: naming one changes nothing, so it is
# ignored and named in the start-up warning.
_RETIRED = {
    "docs_base_url": "nothing read it; cards link to the service's own pages at /docs",
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


# Kinds of setting: a type, its accepted values and the words an error uses for them. A new
# setting declares one of these (or its own, the same way) next to its name.


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number, not true or false")
    return value


def whole(low: int, high: int | None = None) -> Any:
    """A whole number from `low` (to `high`)."""
    accepted = f"a whole number from {low}" + (f" to {high}" if high is not None else " up")
    return Annotated[int, BeforeValidator(_not_bool), Field(ge=low, le=high, description=accepted)]


def seconds(*, zero_means: str | None = None) -> Any:
    """A duration in seconds: greater than 0, or at least 0 when `zero_means` says what 0 does."""
    if zero_means:
        accepted = f"a number of seconds, at least 0 (0: {zero_means})"
        bound = Field(ge=0, allow_inf_nan=False, description=accepted)
    else:
        bound = Field(gt=0, allow_inf_nan=False, description="a number of seconds greater than 0")
    return Annotated[float, BeforeValidator(_not_bool), bound]


def choice(*values: str, upper: bool = False) -> Any:
    """One of `values` (given in any case when `upper`)."""
    accepted = "one of " + ", ".join(repr(v) for v in values)
    normalise = BeforeValidator(lambda v: v.upper() if upper and isinstance(v, str) else v)
    return Annotated[Literal[values], normalise, Field(description=accepted)]  # type: ignore[valid-type]


def _split_list(value: Any) -> Any:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def _json_table(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


Text = Annotated[str, Field(description="text")]
NonEmpty = Annotated[str, Field(min_length=1, description="non-empty text")]
WebUrl = Annotated[str, Field(pattern=r"^https?://\S+$", description="an http:// or https:// URL")]
OptionalUrl = Annotated[WebUrl | None, Field(description="an http:// or https:// URL (or none)")]
Flag = Annotated[bool, Field(description="true or false")]
TextList = Annotated[tuple[str, ...], BeforeValidator(_split_list), Field(description="a list of text")]
NumberTable = Annotated[
    dict[str, Annotated[float, BeforeValidator(_not_bool), Field(allow_inf_nan=False)]],
    BeforeValidator(_json_table),
    Field(description="a table of name = number"),
]
# Origins (scheme, host, optional port) a browser may be sent to or connect to; nothing that
# could break out of a Content-Security-Policy header, which cannot name IPv6 literals either.
_ORIGIN = r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?/?$"
_FRAME_ANCESTOR = r"^('self'|'none'|https?://(\*\.)?[A-Za-z0-9.\-]+(:(\d{1,5}|\*))?)$"
OriginList = Annotated[
    tuple[Annotated[str, Field(pattern=_ORIGIN)], ...],
    BeforeValidator(_split_list),
    Field(description="a list of http:// or https:// origins (scheme, host and optional port)"),
]
FrameAncestors = Annotated[
    tuple[Annotated[str, Field(pattern=_FRAME_ANCESTOR)], ...],
    BeforeValidator(_split_list),
    Field(
        description="a list of 'self', 'none' or http(s) origins (host may start with '*.', port may be '*')",
        min_length=1,
    ),
]
Port = whole(1, 65535)
Processes = whole(1, 256)
Count = whole(1)
Bytes = whole(1)
Seconds = seconds()
IdleSeconds = seconds(zero_means="never")
LogLevel = choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", upper=True)
AuthMode = choice("open", "jwt")
Rate = Annotated[
    float,
    BeforeValidator(_not_bool),
    Field(gt=0, le=1, allow_inf_nan=False, description="a rate above 0, at most 1"),
]
TOPIC_MODES = ("active", "silent", "off")
# Topic codes are checked against the card catalog at start-up (cds.answer.modes).
TopicModes = Annotated[
    dict[str, Literal[TOPIC_MODES]],  # type: ignore[valid-type]
    Field(description="a table of topic code = 'active', 'silent' or 'off'"),
]


ADMIN_TOKEN_MIN = 32  # characters: a guessable token would open every site's committee figures

# The open-mode default of fhir_allowed_servers: a FHIR server run beside the service on this
# machine, on one port. Not every loopback port: an open service would otherwise tell its
# callers which local ports answer.
OPEN_MODE_FHIR_SERVERS = ("http://127.0.0.1:8081", "http://localhost:8081", "http://[::1]:8081")


@checked_dataclass(frozen=True, config=ConfigDict(coerce_numbers_to_str=True))
class Settings:
    # --- HTTP server
    host: NonEmpty = "127.0.0.1"
    port: Port = 8080
    workers: Processes = 2
    threads: Processes = 2  # CPU-bound calls: more threads per worker only add GIL contention
    public_base_url: OptionalUrl = None  # e.g. https://cds.example.org behind a proxy
    cors_allow_origin: NonEmpty = "*"
    log_level: LogLevel = "INFO"
    metrics_enabled: Flag = True  # Prometheus text at /metrics
    metrics_port: whole(0, 65535) = 0  # 0: /metrics on the service port; otherwise its own listener on `host`

    # --- services
    hooks_dir: NonEmpty = field(default_factory=_default_hooks_dir)

    # --- input limits
    max_body_bytes: Bytes = 5 * 1024 * 1024
    # One header line, Authorization included: above the 16 KiB token limit, so an oversized
    # token still gets the authentication 401, and only a header past this gets 431.
    max_header_bytes: whole(1024, 1024 * 1024) = 20 * 1024
    max_json_depth: whole(1, 1000) = 64
    max_resources_per_key: Count = 10_000
    client_read_timeout_s: IdleSeconds = 5.0  # a client silent this long mid-request is dropped
    client_request_deadline_s: IdleSeconds = 10.0  # a request not received whole by then is dropped

    # --- FHIR server fallback
    # Origins the access token may go to. Unset: OPEN_MODE_FHIR_SERVERS in open mode, none in
    # jwt mode (each site lists its EHR's FHIR servers).
    fhir_allowed_servers: TextList | None = None
    fhir_request_timeout_s: Seconds = 1.5
    fhir_deadline_s: Seconds = 2.0
    fhir_max_pages: whole(1, 1000) = 5
    fhir_pool_size: whole(1, 1024) = 16
    fhir_max_response_bytes: Bytes = 10 * 1024 * 1024  # per answer (one page), decompressed

    # --- trust (JWT)
    auth_mode: AuthMode = "open"  # "open": calls without a token are accepted; "jwt": required
    issuers: tuple[IssuerConfig, ...] = ()
    jwt_clock_skew_s: whole(0, 3600) = 60
    jwt_max_lifetime_s: whole(1) = 3600
    jwks_cache_s: whole(0) = 3600
    jwks_fetch_timeout_s: Seconds = 2.0

    # --- guideline
    recent_months: whole(1, 120) = 12
    cutoff_overrides: NumberTable = field(default_factory=dict)

    # --- storage: one database for feedback, used JWT ids and the card audit
    database_url: Text = ""  # SQLAlchemy URL; empty: an SQLite file in data_dir
    data_dir: NonEmpty = field(default_factory=_default_data_dir)

    # --- pages
    preview_enabled: Flag = True
    fixtures_dir: NonEmpty = field(default_factory=_default_fixtures_dir)

    # --- the SMART on FHIR companion app (docs/companion-app.md)
    smart_client_id: Text = ""  # the client id the EHR issued the app; empty: no app (404), no card links
    # FHIR servers (`iss`) and their authorization servers the app may talk to from the browser
    smart_allowed_servers: OriginList = ("http://127.0.0.1", "http://localhost")
    frame_ancestors: FrameAncestors = ("'self'", "http://127.0.0.1:*", "http://localhost:*")
    smart_fhir_timeout_s: Seconds = 15.0  # the app gives up on one FHIR or token request after this

    # --- governance: which rules show, the audit of every card, the committee's figures
    topic_modes: TopicModes = field(default_factory=dict)  # topic code -> active|silent|off
    # HMAC key of patient pseudonyms, or a file holding it; neither: a key file generated in
    # data_dir (SQLite only; a PostgreSQL fleet must set one). Never kept in the database.
    # Secrets are left out of the repr, so printing or logging Settings never shows them.
    audit_secret: Text = field(default="", repr=False)
    audit_secret_file: Text = ""
    audit_queue_size: whole(1, 10_000_000) = 10_000  # cards waiting; a full queue writes in the caller
    audit_flush_s: seconds(zero_means="written before the answer") = 1.0  # background writer period
    retention_days: whole(0) = 730  # audit and feedback older than this are purged; 0 keeps everything
    fatigue_window: whole(1) = 50  # the most recent shown cards of a topic the fatigue flag looks at
    fatigue_threshold: Rate = 0.7  # override rate over that window that flags a fatigue risk
    fatigue_min_cards: whole(1) = 10  # fewer recent cards than this never flag
    admin_token: Text = field(default="", repr=False)  # bearer token of /admin/report; empty: off (404)
    max_feedback_items: whole(1, 1000) = 100  # items in one feedback request; more: 413, nothing stored
    # --- change control: the version of the rules, and a candidate piloted in the shadow
    knowledge_label: Text = ""  # the site's name for its rules, e.g. "2027-01 lab assay change"
    shadow_config: Text = ""  # TOML file of a candidate's settings, assessed on every call, never shown

    def __post_init__(self) -> None:
        if self.fhir_allowed_servers is None:
            chosen = OPEN_MODE_FHIR_SERVERS if self.auth_mode == "open" else ()
            object.__setattr__(self, "fhir_allowed_servers", chosen)  # frozen: set once, here

    def with_overrides(self, **changes: Any) -> Settings:
        return checked(lambda: replace(self, **changes))


# What a card says and whether it appears: these settings, with the knowledge files, make the
# knowledge version (cds.change.version) that every card, call and report carries. Every
# other setting is in DEPLOYMENT_SETTINGS (where and how the service runs, what it records,
# how the report reads); tests/test_knowledge_version.py fails on a setting in neither.
# smart_client_id: a registered companion app puts its launch link on cards.
CARD_SETTINGS = ("recent_months", "cutoff_overrides", "topic_modes", "smart_client_id")
DEPLOYMENT_SETTINGS = (
    "host", "port", "workers", "threads", "cors_allow_origin", "log_level", "metrics_enabled",
    "metrics_port", "hooks_dir", "max_body_bytes", "max_header_bytes",
    "max_json_depth", "max_resources_per_key", "client_read_timeout_s", "client_request_deadline_s",
    "fhir_allowed_servers", "fhir_request_timeout_s", "fhir_deadline_s", "fhir_max_pages",
    "fhir_pool_size", "fhir_max_response_bytes", "auth_mode", "issuers", "jwt_clock_skew_s",
    "jwt_max_lifetime_s", "jwks_cache_s", "jwks_fetch_timeout_s", "database_url", "data_dir",
    "preview_enabled", "fixtures_dir", "audit_secret", "audit_queue_size", "audit_flush_s",
    "retention_days", "fatigue_window", "fatigue_threshold", "fatigue_min_cards", "admin_token",
    "shadow_config", "audit_secret_file", "max_feedback_items", "smart_allowed_servers",
    "frame_ancestors", "smart_fhir_timeout_s",
    # Link addresses follow where the EHR reaches the service (this, or the Host it called):
    # they change no advice, so moving the service behind a proxy is not a change of rules.
    "public_base_url",
    # The version's name, not its content: carried beside the hash, never hashed.
    "knowledge_label",
)  # fmt: skip


def checked(build: Callable[[], Settings]) -> Settings:
    """Build Settings; the first invalid value becomes one ConfigError line."""
    try:
        return build()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "settings"
        info = Settings.__pydantic_fields__.get(name)  # type: ignore[attr-defined]
        wanted = f"expected {info.description}" if info is not None and info.description else error["msg"]
        entry = "".join(f"[{str(part)[:80]!r}]" for part in error["loc"][1:])  # within a table
        raise ConfigError(f"setting {name!r}{entry}: {wanted}, got {error.get('input')!r:.80}") from None


def jwks_url_problem(url: str) -> str | None:
    """Why a key set URL may not be used, or None: https only, plain http on loopback alone
    (development), since whoever can change a key set in transit can sign any token."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK_HOSTS:
        return None
    return f"setting 'jwks_url' must be an https:// URL (http:// only on loopback), got {url[:100]!r}"


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _parse_issuers(raw: Any) -> tuple[IssuerConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError("setting 'issuers': expected a list of [[issuers]] tables")
    result = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("iss"), str):
            raise ConfigError(f"setting 'issuers'[{index}]: needs an 'iss' string")
        if not item.get("jwks_url") and not item.get("jwks_file"):
            raise ConfigError(f"issuer {item['iss']!r}: needs 'jwks_url' or 'jwks_file'")
        if item.get("jwks_url") and (problem := jwks_url_problem(str(item["jwks_url"]))):
            raise ConfigError(f"issuer {item['iss']!r}: {problem}")
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


# CDS_* variables read by name that are no setting: the configuration file, and the token
# `cds replay --url` sends.
OTHER_VARIABLES = frozenset({"CDS_CONFIG", "CDS_REPLAY_TOKEN"})
# Kubernetes puts variables named after every Service of a namespace into each of its
# containers; for a Service named `cds`: CDS_SERVICE_HOST, CDS_SERVICE_PORT(_<port name>),
# CDS_PORT=tcp://<address>:<port> and CDS_PORT_<port>_TCP(_PROTO|_PORT|_ADDR). They are no
# setting and nobody misspells a setting into them, so they are skipped without a warning,
# except CDS_PORT, which is the `port` setting's name: its service-link value is named.
_SERVICE_LINK_NAME = re.compile(
    r"CDS_SERVICE_HOST|CDS_SERVICE_PORT(_\w+)?|CDS_PORT_\d+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?"
)
_SERVICE_LINK_VALUE = re.compile(r"(tcp|udp|sctp)://", re.IGNORECASE)


def _service_link_port(env: Mapping[str, str]) -> bool:
    """CDS_PORT holds a Kubernetes service link (tcp://10.0.0.11:8080), not a port number."""
    return _SERVICE_LINK_VALUE.match(env.get("CDS_PORT", "")) is not None


def ignored_variables(env: Mapping[str, str]) -> dict[str, str]:
    """Every CDS_* variable (in any case) that no setting is read from, with why: load_settings
    names them in one warning line, so a misspelt setting is not silently ignored. Only names:
    a value could be a secret."""
    read = {f"CDS_{f.name.upper()}" for f in fields(Settings)} | OTHER_VARIABLES
    ignored = {}
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith("CDS_") or _SERVICE_LINK_NAME.fullmatch(name):
            continue
        setting = upper.removeprefix("CDS_").lower()
        if setting in _RETIRED:
            ignored[name] = f"setting {setting!r} was removed: {_RETIRED[setting]}"
        elif name == "CDS_PORT" and _service_link_port(env):
            ignored[name] = "a Kubernetes service link, not a port number: not read as 'port'"
        elif upper in read and name != upper:
            ignored[name] = f"settings are read from upper-case names: {upper}"
        elif upper not in read:
            ignored[name] = "no such setting"
    return ignored


def _warn_ignored(ignored: Mapping[str, str]) -> None:
    if ignored:
        listed = "; ".join(f"{name} ({why})" for name, why in ignored.items())
        log_event(
            f"configuration: ignored {listed}; settings are listed in docs/configuration.md",
            level=logging.WARNING,
            ignored=list(ignored),
        )


def read_toml(path: str | os.PathLike[str], what: str = "config file") -> dict[str, Any]:
    """A TOML file's table; ConfigError naming `what`, the file and the problem otherwise."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path}: {exc}") from None


def _read_file(path: str | os.PathLike[str], known: set[str], ignored: dict[str, str]) -> dict[str, Any]:
    data = read_toml(path)
    values: dict[str, Any] = {}
    for name, raw in data.items():
        if name in _REMOVED:
            raise ConfigError(f"config file {path}: setting {name!r} was removed: {_REMOVED[name]}")
        if name in _RETIRED:
            ignored[f"{name} in {path}"] = f"setting {name!r} was removed: {_RETIRED[name]}"
        elif name == "issuers":
            values["issuers"] = _parse_issuers(raw)
        elif name in known:
            values[name] = raw
        else:
            raise ConfigError(f"config file {path}: unknown setting {name!r}")
    return values


def _read_environment(env: Mapping[str, str], known: set[str]) -> dict[str, Any]:
    for name, replacement in _REMOVED.items():
        if f"CDS_{name.upper()}" in env:
            raise ConfigError(f"CDS_{name.upper()}: setting {name!r} was removed: {replacement}")
    values: dict[str, Any] = {}
    for name in known - {"issuers"}:
        env_name = f"CDS_{name.upper()}"
        if env_name not in env or (name == "port" and _service_link_port(env)):
            continue
        if name == "topic_modes":
            try:
                values["topic_modes"] = json.loads(env[env_name])
            except json.JSONDecodeError as exc:
                raise ConfigError(f"CDS_TOPIC_MODES: not JSON ({exc})") from None
        else:
            values[name] = env[env_name]
    if "CDS_ISSUERS" in env:
        try:
            values["issuers"] = _parse_issuers(json.loads(env["CDS_ISSUERS"]))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"CDS_ISSUERS: not JSON ({exc})") from None
    return values


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings from defaults, an optional TOML file, ``CDS_*`` variables and overrides;
    what it ignores (CDS_* variables that are no setting, retired settings) is named in one
    warning line."""
    env = os.environ if environ is None else environ
    known = {f.name for f in fields(Settings)}
    ignored = ignored_variables(env)
    values: dict[str, Any] = {}
    path = config_file or env.get("CDS_CONFIG")
    if path:
        values.update(_read_file(path, known, ignored))
    values.update(_read_environment(env, known))
    _warn_ignored(ignored)  # before any error below, so a misspelt setting is named even then

    values.update(overrides)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown setting {unknown[0]!r}")
    settings = checked(lambda: Settings(**values))
    if settings.metrics_port and settings.metrics_port == settings.port:
        raise ConfigError("setting 'metrics_port': must differ from 'port' (0 serves /metrics on 'port')")
    if settings.auth_mode == "jwt" and not settings.issuers:
        raise ConfigError("setting 'auth_mode' is 'jwt' but no [[issuers]] are configured")
    if settings.admin_token and len(settings.admin_token) < ADMIN_TOKEN_MIN:
        raise ConfigError(
            f"setting 'admin_token': must be at least {ADMIN_TOKEN_MIN} characters "
            "(e.g. openssl rand -hex 32), or empty to turn /admin/report off"
        )
    if settings.audit_secret and settings.audit_secret_file:
        raise ConfigError("settings 'audit_secret' and 'audit_secret_file' are both set; set one")
    if settings.auth_mode == "jwt" and not settings.public_base_url:
        # Otherwise the JWT audience and the cards' links would follow the client's Host header.
        raise ConfigError(
            "setting 'public_base_url' is required when 'auth_mode' is 'jwt' "
            "(the address EHRs call, e.g. https://cds.example.org)"
        )
    return settings

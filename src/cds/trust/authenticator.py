"""Trust: decide whether a call comes from a trusted EHR (CDS Hooks 2.0 JWT).

Modes:
- "jwt": every discovery, service and feedback call needs a valid bearer JWT.
- "open" (local default): a call without a token is accepted. A token that is present is
  verified when trusted issuers are configured (a bad one is rejected) and ignored when
  none are.

Every failure raises Unauthorized with the same generic message; the log line names the
check that failed plus iss, kid, jti and tenant, never the token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from cds.config import ConfigError, IssuerConfig, Settings
from cds.errors import Unauthorized
from cds.logs import log_event
from cds.observe.metrics import count_auth_failure
from cds.trust.jwks import ASYMMETRIC_ALGORITHMS, JwksSource, KeySetUnavailable, KeyUnfit
from cds.trust.replay_guard import InMemoryReplayGuard, ReplayGuard

MAX_TOKEN_CHARS = 16 * 1024  # real CDS Hooks tokens are well under 2 KB
MAX_JTI_CHARS = 256
MAX_TENANT_CHARS = 256  # kept with each card the call returns, and compared on its feedback
_GENERIC_MESSAGE = "authentication failed"


@dataclass(frozen=True)
class Caller:
    iss: str | None
    tenant: str | None = None


class _Rejected(Exception):
    def __init__(self, check: str, **fields: Any) -> None:
        super().__init__(check)
        self.check = check
        self.fields = fields


def _short(value: Any) -> Any:
    """A claim value safe to log: strings cut short, other types named only."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value[:200]
    return f"<{type(value).__name__}>"


def check_issuer_algorithms(issuer: IssuerConfig) -> None:
    """`none` and HMAC can never be trusted: a configuration that names them cannot start."""
    bad = [alg for alg in issuer.algorithms if alg not in ASYMMETRIC_ALGORITHMS]
    if bad:
        raise ConfigError(
            f"issuer {issuer.iss!r}: algorithms {', '.join(bad)} are not allowed; use one of "
            f"{', '.join(sorted(ASYMMETRIC_ALGORITHMS))}"
        )


class Authenticator:
    def __init__(
        self,
        settings: Settings,
        *,
        session: requests.Session | None = None,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self.settings = settings
        self._issuers: dict[str, IssuerConfig] = {}
        self._sources: dict[str, JwksSource] = {}
        session = session or requests.Session()
        for issuer in settings.issuers:
            check_issuer_algorithms(issuer)
            self._issuers[issuer.iss] = issuer
            self._sources[issuer.iss] = JwksSource(
                url=issuer.jwks_url,
                file=issuer.jwks_file,
                session=session,
                timeout_s=settings.jwks_fetch_timeout_s,
                cache_s=settings.jwks_cache_s,
            )
        # The service passes the database's shared record; a bare Authenticator (one process,
        # as in tools) remembers ids in memory.
        self._replay_guard = replay_guard or InMemoryReplayGuard()
        if self._issuers and not settings.public_base_url:
            # Without it, `aud` is compared with a URL built from the client's Host header, so a
            # token the same EHR made for another CDS service could be replayed here.
            log_event(
                "security: public_base_url is not set; the expected JWT aud follows the Host header",
                logging.WARNING,
            )

    @property
    def mode(self) -> str:
        return self.settings.auth_mode

    def issuers_without_keys(self) -> list[str]:
        """Issuers whose key set is not loaded (a due fetch is tried first): for readiness."""
        return [iss for iss, source in self._sources.items() if not source.loaded()]

    def verify(self, authorization_header: str | None, audience: str) -> Caller:
        """The verified caller, or Unauthorized (generic message; the log says why)."""
        if not authorization_header:
            if self.mode == "open":
                return Caller(iss=None)
            return self._reject(_Rejected("missing_token"), audience)
        if self.mode == "open" and not self._issuers:
            return Caller(iss=None)  # nothing to verify against; documented in docs/security.md
        try:
            caller = self._verify_token(_bearer_token(authorization_header), audience)
        except _Rejected as rejected:
            return self._reject(rejected, audience)
        log_event("caller authenticated", logging.DEBUG, iss=caller.iss, tenant=caller.tenant)
        return caller

    def _reject(self, rejected: _Rejected, audience: str) -> Caller:
        count_auth_failure(rejected.check)
        log_event(
            "authentication failed",
            logging.WARNING,
            check=rejected.check,
            audience=audience[:300],
            **{k: _short(v) for k, v in rejected.fields.items()},
        )
        raise Unauthorized(_GENERIC_MESSAGE)

    def _verify_token(self, token: str, audience: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise _Rejected("malformed_token") from None
        if not isinstance(unverified, dict):
            raise _Rejected("malformed_token")
        alg, kid, jku = header.get("alg"), header.get("kid"), header.get("jku")
        iss, jti = unverified.get("iss"), unverified.get("jti")
        ids = {"iss": iss, "kid": kid, "jti": jti, "alg": alg}

        if not isinstance(alg, str) or alg not in ASYMMETRIC_ALGORITHMS:
            raise _Rejected("alg_not_allowed", **ids)  # none, HMAC and anything unknown
        if not isinstance(kid, str) or not kid:
            raise _Rejected("kid_missing", **ids)
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise _Rejected("iss_unknown", **ids)
        if alg not in issuer.algorithms:
            raise _Rejected("alg_not_allowed", **ids)
        if jku is not None and (not issuer.jwks_url or jku != issuer.jwks_url):
            raise _Rejected("jku_not_trusted", jku=jku, **ids)  # never fetched
        try:
            key = self._sources[issuer.iss].key(kid, alg)
        except KeySetUnavailable:
            raise _Rejected("jwks_unavailable", **ids) from None
        except KeyUnfit:
            raise _Rejected("key_alg_mismatch", **ids) from None
        if key is None:
            raise _Rejected("kid_unknown", **ids)

        if jti is None:
            raise _Rejected("jti_missing", **ids)
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            raise _Rejected("jti_invalid", **ids)

        for claim in ("exp", "iat", "nbf"):
            value = unverified.get(claim)
            # A boolean is an int to Python (False == 0): refuse it rather than read it as a time.
            if claim in unverified and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise _Rejected(f"{claim}_invalid", **ids)

        skew = self.settings.jwt_clock_skew_s
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=audience,
                issuer=issuer.iss,
                leeway=skew,
                options={
                    "require": ["iss", "aud", "exp", "iat", "jti"],
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.ExpiredSignatureError:
            raise _Rejected("expired", **ids) from None
        except jwt.ImmatureSignatureError:
            raise _Rejected("not_yet_valid", **ids) from None
        except jwt.InvalidAudienceError:
            raise _Rejected("aud_mismatch", aud=_short(unverified.get("aud")), **ids) from None
        except jwt.InvalidSignatureError:
            raise _Rejected("bad_signature", **ids) from None
        except jwt.MissingRequiredClaimError as exc:
            raise _Rejected(f"{exc.claim}_missing", **ids) from None
        except jwt.InvalidTokenError as exc:
            raise _Rejected("invalid_claims", error=type(exc).__name__, **ids) from None
        except (ValueError, TypeError, OverflowError):
            raise _Rejected("invalid_claims", **ids) from None

        exp, iat = int(claims["exp"]), int(claims["iat"])  # PyJWT has checked both are integers
        if exp - iat > self.settings.jwt_max_lifetime_s:
            raise _Rejected("lifetime_too_long", **ids)
        tenant = claims.get("tenant")
        if isinstance(tenant, str) and len(tenant) > MAX_TENANT_CHARS:
            raise _Rejected("tenant_invalid", **ids)
        if issuer.tenants and (not isinstance(tenant, str) or tenant not in issuer.tenants):
            raise _Rejected("tenant_not_allowed", tenant=tenant, **ids)
        # Last, so a token failing any other check cannot use up its jti.
        if not self._replay_guard.first_use(f"{issuer.iss}\n{jti}", exp + skew):
            raise _Rejected("jti_replayed", tenant=tenant, **ids)
        return Caller(iss=issuer.iss, tenant=tenant if isinstance(tenant, str) else None)


def _bearer_token(header: str) -> str:
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _Rejected("malformed_header")
    if len(token) > MAX_TOKEN_CHARS:
        raise _Rejected("token_too_large")
    return token

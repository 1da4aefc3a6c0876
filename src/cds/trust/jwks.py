"""Public keys of trusted EHRs: JWK Sets read from a file or fetched from a configured URL.

A URL is fetched with a timeout and cached; a token whose `kid` is not in the cached set
triggers one refetch (key rotation), but at most one per cool-down period so a flood of
made-up kids cannot turn this service into a load generator against the EHR.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from cds.config import ConfigError, jwks_url_problem
from cds.limits import BodyRejected, read_body_bounded
from cds.logs import log_event

MAX_JWKS_BYTES = 256 * 1024

# Which key types and curves may verify which algorithms (symmetric keys never do).
_KEY_FITS: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
}
ASYMMETRIC_ALGORITHMS = frozenset(_KEY_FITS)


class KeySetUnavailable(Exception):
    """The issuer's key set could not be read or fetched and nothing usable is cached."""


class KeyUnfit(Exception):
    """The issuer publishes the kid, but that key cannot verify the token's algorithm."""


@dataclass(frozen=True)
class KeySet:
    keys: dict[str, dict[str, Any]]  # kid -> JWK (public part as published)

    @staticmethod
    def parse(document: Any) -> KeySet:
        """Keep the usable keys of a JWKS document; reject a document that is not one."""
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWK Set (no 'keys' list)")
        keys: dict[str, dict[str, Any]] = {}
        for jwk in document["keys"]:
            if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
                continue
            if jwk.get("kty") not in {"RSA", "EC"}:
                continue  # symmetric ("oct") and unknown key types are never trusted
            if jwk.get("use") not in (None, "sig"):
                continue
            keys.setdefault(jwk["kid"], jwk)
        return KeySet(keys)


def key_for(jwk: dict[str, Any], alg: str) -> PyJWK | None:
    """The verification key for `alg`, or None when this JWK may not verify that algorithm."""
    fit = _KEY_FITS.get(alg)
    if fit is None:
        return None
    kty, crv = fit
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        return None
    if "alg" in jwk and jwk["alg"] != alg:
        return None
    try:
        return PyJWK(jwk, algorithm=alg)
    except (PyJWKError, ValueError, TypeError, KeyError):
        return None


class JwksSource:
    """One issuer's key set. Thread-safe; shared by all requests of a process."""

    def __init__(
        self,
        *,
        url: str | None = None,
        file: str | None = None,
        session: requests.Session | None = None,
        timeout_s: float = 2.0,
        cache_s: float = 3600.0,
        refetch_cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url and not file:
            raise ConfigError("a JWKS source needs a URL or a file")
        if url and (problem := jwks_url_problem(url)):
            raise ConfigError(problem)
        self.url = url
        self.file = file
        self._session = session or requests.Session()
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._cooldown_s = refetch_cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._next_fetch_at = 0.0  # monotonic time after which the cached set is refreshed
        self._last_unknown_kid_refetch: float | None = None
        self._prepared: dict[tuple[str, str], PyJWK | None] = {}
        if file:
            self._keys = self._read_file(file)

    @staticmethod
    def _read_file(path: str) -> KeySet:
        try:
            with open(path, "rb") as handle:
                return KeySet.parse(json.loads(handle.read(MAX_JWKS_BYTES + 1)))
        except OSError as exc:
            raise ConfigError(f"JWKS file {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"JWKS file {path}: {exc}") from None

    def key(self, kid: str, alg: str) -> PyJWK | None:
        """The key named `kid` fitted to `alg`; None if the issuer publishes no such key.

        Raises KeyUnfit when the key exists for another algorithm, KeySetUnavailable when
        a URL source could not be fetched and nothing is cached.
        """
        with self._lock:
            keys = self._current_keys()
            if kid not in keys.keys and self._may_refetch_for_unknown_kid():
                log_event("jwks refetch for unknown kid", url=self.url, kid=kid[:100])
                keys = self._fetch(keep_stale=True)
            jwk = keys.keys.get(kid)
            if jwk is None:
                return None
            cache_key = (kid, alg)
            if cache_key not in self._prepared:
                self._prepared[cache_key] = key_for(jwk, alg)
            prepared = self._prepared[cache_key]
        if prepared is None:
            raise KeyUnfit(kid)
        return prepared

    def loaded(self) -> bool:
        """Whether keys are at hand; a URL set not yet fetched (or due again) is fetched now,
        within the usual cool-down after a failure."""
        with self._lock:
            try:
                return bool(self._current_keys().keys)
            except KeySetUnavailable:
                return False

    def _current_keys(self) -> KeySet:
        if self.url is None:
            assert self._keys is not None
            return self._keys
        if self._clock() >= self._next_fetch_at:
            return self._fetch(keep_stale=True)
        if self._keys is None:
            raise KeySetUnavailable(self.url)  # the last attempt failed; wait for the cool-down
        return self._keys

    def _may_refetch_for_unknown_kid(self) -> bool:
        if self.url is None:
            return False
        now = self._clock()
        last = self._last_unknown_kid_refetch
        if last is not None and now - last < self._cooldown_s:
            return False
        self._last_unknown_kid_refetch = now
        return True

    def _fetch(self, *, keep_stale: bool) -> KeySet:
        assert self.url is not None
        try:
            # Streamed and bounded: this runs under the lock, so a huge or trickling answer
            # would otherwise stall every call that needs a key.
            deadline = time.monotonic() + self._timeout_s
            # Never redirected: a key set served from wherever the issuer's URL points would let
            # that origin sign tokens for the issuer. A 3xx is a failed fetch like any non-200.
            with self._session.get(
                self.url,
                timeout=self._timeout_s,
                headers={"Accept": "application/json"},
                stream=True,
                allow_redirects=False,
            ) as response:
                if response.status_code != 200:
                    raise ValueError(f"HTTP {response.status_code}")
                content = read_body_bounded(response, max_bytes=MAX_JWKS_BYTES, deadline=deadline)
            keys = KeySet.parse(json.loads(content))
        except (requests.RequestException, BodyRejected, ValueError, RecursionError) as exc:
            log_event("jwks fetch failed", 30, url=self.url, error=str(exc)[:200])
            # Retry after the cool-down, not on every call: each attempt may cost a full timeout.
            self._next_fetch_at = self._clock() + self._cooldown_s
            if keep_stale and self._keys is not None:
                return self._keys  # an EHR outage should not lock out calls with known keys
            raise KeySetUnavailable(self.url) from None
        self._keys = keys
        self._next_fetch_at = self._clock() + self._cache_s
        self._prepared.clear()
        return keys

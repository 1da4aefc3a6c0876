"""The knowledge version: a short, stable name for the rules a card was made by.

It is a hash of what decides a card: the reviewed knowledge files (their parsed content, keys
sorted, so spacing and key order do not count; `_about`-style commentary keys are left out)
and the card settings (config.CARD_SETTINGS, given here as plain values), each in a normal
form: a cut-off override equal to the reviewed value, or a topic set to `active`, changes no
card and so no version. A site's label for its version is carried beside the hash, never
hashed. Pure: cds.change.version applies it to a configuration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

VERSION_LENGTH = 12  # hex characters: 48 bits, ample for the handful of versions a site has
UNVERSIONED = "unversioned"  # how reports name records kept before versions were recorded


@dataclass(frozen=True)
class KnowledgeVersion:
    version: str  # VERSION_LENGTH lower-case hex characters
    label: str = ""

    def as_json(self) -> dict[str, str]:
        return {"version": self.version, "label": self.label} if self.label else {"version": self.version}

    def __str__(self) -> str:
        return f"{self.version} ({self.label})" if self.label else self.version


def _plain(value: Any) -> Any:
    """JSON-ready: commentary keys ("_about") dropped, tuples as lists, dataclasses as objects."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


def canonical(value: Any) -> bytes:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@lru_cache(maxsize=1)
def knowledge_files() -> Mapping[str, Any]:
    """Every reviewed knowledge file (knowledge/*.json) by name, parsed once."""
    package = resources.files(__package__)
    names = sorted(p.name for p in package.iterdir() if p.name.endswith(".json"))
    return MappingProxyType(
        {name.removesuffix(".json"): json.loads(package.joinpath(name).read_text("utf-8")) for name in names}
    )


@lru_cache(maxsize=1)
def files_digest() -> str:
    return hashlib.sha256(canonical(knowledge_files())).hexdigest()


def _reviewed_cutoffs() -> Mapping[str, float]:
    return {key: float(c["value"]) for key, c in knowledge_files()["cutoffs"]["cutoffs"].items()}


def _cutoff_overrides(value: Mapping[str, float]) -> dict[str, float]:
    reviewed = _reviewed_cutoffs()
    return {k: float(v) for k, v in sorted(value.items()) if reviewed.get(k) != float(v)}


def _topic_modes(value: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(value.items()) if v != "active"}


# Spellings of a setting that build the same cards are one value; settings not named here are
# taken as they are.
_NORMAL_FORMS: Mapping[str, Callable[[Any], Any]] = {
    "cutoff_overrides": _cutoff_overrides,
    "topic_modes": _topic_modes,
}


def normal_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Card settings by name, each in its normal form (JSON-ready)."""
    result = {}
    for name, value in values.items():
        normal = _NORMAL_FORMS.get(name)
        result[name] = _plain(normal(value) if normal else value)
    return result


def version_of(files: str, settings: Mapping[str, Any]) -> str:
    """The version of the knowledge files with this digest under these (normal) card settings."""
    return hashlib.sha256(canonical({"knowledge": files, "settings": settings})).hexdigest()[:VERSION_LENGTH]

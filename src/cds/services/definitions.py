"""Service definitions: one JSON file per service in hooks/, validated at start-up."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cds.knowledge import ALL_FAMILIES, load_knowledge
from cds.schemas import validator_for

# Discovery shows only the fields the CDS Hooks 2.0 specification defines for a service.
_DISCOVERY_FIELDS = ("hook", "id", "title", "description", "prefetch", "usageRequirements")


_HOOK_ORDER = {"patient-view": 0, "order-select": 1, "order-sign": 2}


class ServiceDefinitionError(ValueError):
    """A hooks/*.json file is unusable; the message names the file and the problem."""


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    prefetch: dict[str, str]
    usage_requirements: str | None
    handler: str
    required_prefetch: tuple[str, ...]
    optional_prefetch: tuple[str, ...]
    path: str
    # prefetch keys (current or former) that carry laboratory results -> the family they carry
    # (knowledge/labs.json) or ALL_FAMILIES; empty: the reader's default
    observation_keys: Mapping[str, str] = field(default_factory=dict)
    # keys of an earlier discovery still accepted -> the current keys each stands in for
    former_prefetch: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def stood_in_for(self, sent: Collection[str]) -> dict[str, str]:
        """The current keys a former key among `sent` stands in for, each with that former key."""
        return {
            current: former
            for former, currents in self.former_prefetch.items()
            if former in sent
            for current in currents
        }

    def discovery(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
        }
        if self.prefetch:
            entry["prefetch"] = dict(self.prefetch)
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        return entry


def _from_file(path: Path, known_handlers: set[str] | None, families: Collection[str]) -> ServiceDefinition:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ServiceDefinitionError(f"{path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ServiceDefinitionError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    errors = sorted(validator_for("service-definition").iter_errors(data), key=str)
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "(top level)"
        raise ServiceDefinitionError(f"{path}: {where}: {first.message}")
    private = data["myelin"]
    prefetch = data.get("prefetch", {})
    required = tuple(private.get("requiredPrefetch", ()))
    optional = tuple(private.get("optionalPrefetch", ()))
    for key in required + optional:
        if key not in prefetch:
            raise ServiceDefinitionError(f"{path}: myelin prefetch key {key!r} has no template in 'prefetch'")
    overlap = set(required) & set(optional)
    if overlap:
        raise ServiceDefinitionError(
            f"{path}: prefetch keys {sorted(overlap)} are both required and optional"
        )
    unclassified = set(prefetch) - set(required) - set(optional)
    if unclassified:
        raise ServiceDefinitionError(
            f"{path}: prefetch keys {sorted(unclassified)} are neither required nor optional"
        )
    if known_handlers is not None and private["handler"] not in known_handlers:
        raise ServiceDefinitionError(
            f"{path}: unknown handler {private['handler']!r} (known: {', '.join(sorted(known_handlers))})"
        )
    if path.stem != data["id"]:
        raise ServiceDefinitionError(f"{path}: file name must be the service id ({data['id']}.json)")
    observation_keys = dict(private.get("observationKeys", {}))
    former = {key: tuple(currents) for key, currents in private.get("formerPrefetch", {}).items()}
    _check_former_keys(path, prefetch, former)
    if observation_keys:
        _check_observation_keys(path, prefetch, former, observation_keys, families)
    return ServiceDefinition(
        id=data["id"],
        hook=data["hook"],
        title=data["title"],
        description=data["description"],
        prefetch=dict(prefetch),
        usage_requirements=data.get("usageRequirements"),
        handler=private["handler"],
        required_prefetch=required,
        optional_prefetch=optional,
        path=str(path),
        observation_keys=observation_keys,
        former_prefetch=former,
    )


def _check_former_keys(
    path: Path, prefetch: Mapping[str, str], former: Mapping[str, tuple[str, ...]]
) -> None:
    for key, currents in former.items():
        if key in prefetch:
            raise ServiceDefinitionError(f"{path}: former prefetch key {key!r} is still a current key")
        unknown = [c for c in currents if c not in prefetch]
        if unknown:
            raise ServiceDefinitionError(
                f"{path}: former prefetch key {key!r} stands in for {unknown} with no template in 'prefetch'"
            )


def _check_observation_keys(
    path: Path,
    prefetch: Mapping[str, str],
    former: Mapping[str, tuple[str, ...]],
    observation_keys: Mapping[str, str],
    families: Collection[str],
) -> None:
    """Every result key is a prefetch key carrying a known family; the current keys together
    ask for every family; a former key carries at least what the keys it stands in for carry."""
    for key, family in observation_keys.items():
        if key not in prefetch and key not in former:
            raise ServiceDefinitionError(f"{path}: observationKeys names {key!r}, which is no prefetch key")
        if family != ALL_FAMILIES and family not in families:
            raise ServiceDefinitionError(
                f"{path}: observationKeys gives {key!r} the family {family!r}, which knowledge/labs.json "
                f"does not have (known: {', '.join(sorted(families))}, or {ALL_FAMILIES!r})"
            )

    def carried(key: str) -> set[str]:
        family = observation_keys.get(key)
        return set(families) if family == ALL_FAMILIES else {family} if family else set()

    asked = set().union(*(carried(key) for key in prefetch))
    if asked != set(families):
        missing = ", ".join(sorted(set(families) - asked))
        raise ServiceDefinitionError(f"{path}: no prefetch key asks for the results of family {missing}")
    for key, currents in former.items():
        short = set().union(*(carried(c) for c in currents)) - carried(key)
        if short:
            raise ServiceDefinitionError(
                f"{path}: former prefetch key {key!r} stands in for keys carrying {sorted(short)}, "
                "which observationKeys does not give it"
            )


def load_services(
    hooks_dir: str | Path, known_handlers: set[str] | None = None
) -> dict[str, ServiceDefinition]:
    """Load every hooks/*.json, in file-name order; fail on the first invalid definition."""
    directory = Path(hooks_dir)
    if not directory.is_dir():
        raise ServiceDefinitionError(f"{directory}: service definition directory not found")
    services: dict[str, ServiceDefinition] = {}
    families = frozenset(load_knowledge().families)  # what an observation key may carry
    for path in sorted(directory.glob("*.json")):
        service = _from_file(path, known_handlers, families)
        if service.id in services:
            raise ServiceDefinitionError(
                f"{path}: service id {service.id!r} already defined in {services[service.id].path}"
            )
        services[service.id] = service
    if not services:
        raise ServiceDefinitionError(f"{directory}: no service definitions (*.json) found")
    # Discovery lists chart-opening services first, then the order hooks, each by id.
    return dict(sorted(services.items(), key=lambda item: (_HOOK_ORDER.get(item[1].hook, 9), item[0])))

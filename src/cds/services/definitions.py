"""Service definitions: one JSON file per service in hooks/, validated at start-up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _from_file(path: Path, known_handlers: set[str] | None) -> ServiceDefinition:
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
    )


def load_services(
    hooks_dir: str | Path, known_handlers: set[str] | None = None
) -> dict[str, ServiceDefinition]:
    """Load every hooks/*.json, in file-name order; fail on the first invalid definition."""
    directory = Path(hooks_dir)
    if not directory.is_dir():
        raise ServiceDefinitionError(f"{directory}: service definition directory not found")
    services: dict[str, ServiceDefinition] = {}
    for path in sorted(directory.glob("*.json")):
        service = _from_file(path, known_handlers)
        if service.id in services:
            raise ServiceDefinitionError(
                f"{path}: service id {service.id!r} already defined in {services[service.id].path}"
            )
        services[service.id] = service
    if not services:
        raise ServiceDefinitionError(f"{directory}: no service definitions (*.json) found")
    # Discovery lists chart-opening services first, then the order hooks, each by id.
    return dict(sorted(services.items(), key=lambda item: (_HOOK_ORDER.get(item[1].hook, 9), item[0])))

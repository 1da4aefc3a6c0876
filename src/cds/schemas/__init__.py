"""JSON Schemas the project wrote from the CDS Hooks 2.0.1 specification."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from cds.schemas.compiled import Check, UnsupportedSchema, compile_schema
from cds.schemas.patterns import EcmaDraft202012Validator


@cache
def load_schema(name: str) -> dict:
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def _inline_local_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace `#/$defs/...` references by their targets: validation then skips the
    reference resolver, which is most of its cost on every call. The schemas have no cycles."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = copy.deepcopy(definitions[ref.removeprefix("#/$defs/")])
                extra = {k: v for k, v in node.items() if k != "$ref"}
                return resolve({**target, **extra})
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


@cache
def validator_for(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return EcmaDraft202012Validator(_inline_local_refs(schema), format_checker=FormatChecker())


@cache
def fast_check_for(name: str) -> Check:
    """A compiled yes/no check for the schema, or jsonschema's own when it cannot be compiled."""
    validator = validator_for(name)
    try:
        return compile_schema(validator.schema)
    except UnsupportedSchema:
        return validator.is_valid

"""A fast yes/no check compiled from our own JSON Schemas, for the valid-request fast path.

jsonschema walks a schema through a general-purpose machinery on every call, which costs
about as much as the rest of a small call. Our request schemas use a small set of
keywords, so each schema node is turned once into a Python closure that checks just what
the node says. The closures only answer "valid or not": when a request is invalid,
jsonschema itself is run to find and word the error. A keyword the compiler does not know
raises `UnsupportedSchema`, and the caller then keeps jsonschema for that schema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cds.schemas.patterns import ecma_regex

Check = Callable[[Any], bool]

# Keywords that describe a schema without constraining the instance.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "examples", "default", "$defs"}
)


class UnsupportedSchema(ValueError):
    """The schema uses a keyword this compiler does not implement."""


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: Mapping[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _type_check(expected: str | list[str]) -> Check:
    names = [expected] if isinstance(expected, str) else list(expected)
    checks = [_TYPES[name] for name in names]
    if len(checks) == 1:
        return checks[0]
    return lambda v: any(check(v) for check in checks)


def _const_check(const: Any) -> Check:
    if isinstance(const, str) or const is None:
        return lambda v: v == const and type(v) is type(const)
    if isinstance(const, bool):
        return lambda v: v is const
    raise UnsupportedSchema(f"const {const!r}")


def compile_schema(schema: Any) -> Check:
    """A function telling whether an instance is valid against `schema` (refs inlined)."""
    if schema is True:
        return lambda _v: True
    if schema is False:
        return lambda _v: False
    if not isinstance(schema, dict):
        raise UnsupportedSchema(f"schema node {schema!r}")
    checks: list[Check] = []
    properties = schema.get("properties", {})
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS or keyword in {"then", "else"}:
            continue
        checks.append(_keyword_check(keyword, value, schema, properties))
    if not checks:
        return lambda _v: True
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)


def _keyword_check(keyword: str, value: Any, schema: dict[str, Any], properties: dict[str, Any]) -> Check:
    if keyword == "type":
        return _type_check(value)
    if keyword == "const":
        return _const_check(value)
    if keyword == "enum":
        options = [_const_check(option) for option in value]
        return lambda v: any(option(v) for option in options)
    if keyword == "pattern":
        search = ecma_regex(value).search
        return lambda v: not isinstance(v, str) or search(v) is not None
    if keyword == "minLength":
        return lambda v: not isinstance(v, str) or len(v) >= value
    if keyword == "maxLength":
        return lambda v: not isinstance(v, str) or len(v) <= value
    if keyword == "minimum":
        return lambda v: not _is_number(v) or v >= value
    if keyword == "minItems":
        return lambda v: not isinstance(v, list) or len(v) >= value
    if keyword == "maxItems":
        return lambda v: not isinstance(v, list) or len(v) <= value
    if keyword == "items":
        item = compile_schema(value)
        return lambda v: not isinstance(v, list) or all(item(x) for x in v)
    if keyword == "required":
        names = tuple(value)
        return lambda v: not isinstance(v, dict) or all(name in v for name in names)
    if keyword == "dependentRequired":
        pairs = tuple((name, tuple(needed)) for name, needed in value.items())
        return lambda v: (
            not isinstance(v, dict)
            or all(name not in v or all(n in v for n in needed) for name, needed in pairs)
        )
    if keyword == "properties":
        compiled = tuple((name, compile_schema(sub)) for name, sub in value.items())

        def check_properties(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for name, check in compiled:  # noqa: SIM110 - a plain loop is cheaper on every call
                if name in v and not check(v[name]):
                    return False
            return True

        return check_properties
    if keyword == "additionalProperties":
        extra = compile_schema(value)
        known = frozenset(properties)
        if "patternProperties" in schema:
            raise UnsupportedSchema("additionalProperties with patternProperties")
        return lambda v: (
            not isinstance(v, dict) or all(extra(item) for key, item in v.items() if key not in known)
        )
    if keyword == "anyOf":
        options = [compile_schema(sub) for sub in value]
        return lambda v: any(option(v) for option in options)
    if keyword == "allOf":
        parts = [compile_schema(sub) for sub in value]
        return lambda v: all(part(v) for part in parts)
    if keyword == "if":
        condition = compile_schema(value)
        then = compile_schema(schema.get("then", True))
        otherwise = compile_schema(schema.get("else", True))
        return lambda v: then(v) if condition(v) else otherwise(v)
    raise UnsupportedSchema(f"keyword {keyword!r}")

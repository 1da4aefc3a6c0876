"""JSON Schema `pattern` with its ECMA-262 meaning under Python's `re`.

Two differences matter for our schemas: Python's `$` also matches before a final newline
(so "p1\\n" would pass `^[A-Za-z0-9]+$`), and Python's `\\d` matches any Unicode digit
("٣"). ECMA-262's `$` is the end of the text and its `\\d` is 0-9 only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators


def ecma_to_python(pattern: str) -> str:
    """Rewrite `$` (outside a character class) to `\\Z`, and `\\d`/`\\D` to ASCII digits."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            if escaped == "d":
                out.append("0-9" if in_class else "[0-9]")
            elif escaped == "D" and not in_class:
                out.append("[^0-9]")
            else:
                out.append(char + escaped)
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return "".join(out)


@cache
def ecma_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_to_python(pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and ecma_regex(pattern).search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Draft 2020-12 with ECMA-262 patterns; every other keyword as jsonschema implements it.
EcmaDraft202012Validator = validators.extend(Draft202012Validator, {"pattern": _pattern})

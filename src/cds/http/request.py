"""Parse and validate an incoming CDS Hooks call body; errors name the offending field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import orjson
from jsonschema.exceptions import ValidationError, best_match

from cds.errors import BadRequest
from cds.reader import NotJson, decode
from cds.schemas import fast_check_for, validator_for
from cds.services.request import FhirAuthorization, HookRequest

_UTF8_BOM = b"\xef\xbb\xbf"


def parse_json(body: bytes, *, max_depth: int) -> Any:
    """Decode a JSON body; reject invalid UTF-8, invalid JSON, NaN/Infinity and deep nesting.

    orjson is strict where the standard library is lenient: NaN and Infinity literals,
    numbers that overflow to infinity and unpaired surrogate escapes are all errors, so no
    such value can reach the engine, the logs or the feedback database. It is also about
    twice as fast, which matters because parsing is a large share of every call.
    """
    return _parse(_prepared(body, max_depth), max_depth)


def _prepared(body: bytes, max_depth: int) -> bytes:
    """The body without its one byte order mark, its nesting checked (before any parser)."""
    if body.startswith(_UTF8_BOM):
        body = body[len(_UTF8_BOM) :]  # RFC 8259 lets a parser ignore one; some .NET clients send it
    if not nesting_within(body, max_depth):
        raise BadRequest(f"request body nests deeper than {max_depth} levels")
    return body


def _parse(body: bytes, max_depth: int) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"request body is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise BadRequest("request body is empty; expected a JSON object")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "depth" in exc.msg:
            raise BadRequest(f"request body nests deeper than {max_depth} levels") from None
        near = text[max(exc.pos - 1, 0) : exc.pos + 9]
        raise BadRequest(
            f"request body is not valid JSON: {_json_problem(exc.msg, near)} "
            f"at line {exc.lineno}, column {exc.colno}"
        ) from None


def _json_problem(message: str, at: str) -> str:
    """The parser's message, in words a client can act on for the cases it words poorly."""
    # `at` starts one character before the error: the parser may stop after a minus sign.
    for constant in ("-Infinity", "NaN", "Infinity"):
        if constant in at[: len(constant) + 1]:
            return f"{constant} is not a JSON value"
    if "surrogate" in message:
        return "a string holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)"
    if "infinity" in message:
        return "a number is out of range"
    return message


_NOT_STRUCTURE = bytes(set(range(256)) - set(b'[]{}"'))
_OBJECTS_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")


def nesting_within(raw: bytes, max_depth: int) -> bool:
    """True if the JSON text nests at most max_depth arrays/objects deep.

    Works on the bytes with C-speed operations only (a walk over the parsed object costs
    more than the parse itself): drop escaped backslashes and quotes, keep only brackets (objects
    mapped to arrays) and quotes, cut out string contents, then peel innermost pairs.
    """
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    text = raw.translate(_OBJECTS_AS_ARRAYS, _NOT_STRUCTURE)
    # Removing adjacent quote pairs first is safe (no character changes between inside and
    # outside a string: two quotes go at a time, with nothing between them) and leaves few
    # quotes for the split, which then drops what is still inside strings ("mm[Hg]").
    text = text.replace(b'""', b"")
    if b'"' in text:
        text = b"".join(text.split(b'"')[::2])
    for level in range(max_depth):
        if not text:
            return True
        peeled = text.replace(b"[]", b"")  # exactly one level per pass
        if peeled == text:
            # Unbalanced (the parser will say so) unless its unclosed openers are too deep.
            return level + text.count(b"[") <= max_depth
        text = peeled
    return not text


def _field_path(error: ValidationError) -> str:
    parts: list[str] = []
    for part in error.absolute_path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts)


def _describe(error: ValidationError) -> tuple[str, str]:
    """A message and a FHIRPath-like location for the most relevant schema error."""
    location = _field_path(error)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        full = f"{location}.{missing}" if location else missing
        return f"missing required field '{full}'", full
    if error.validator == "dependentRequired":
        return f"{error.message} (fhirServer is required with fhirAuthorization)", "fhirServer"
    where = location or "(request body)"
    if error.validator == "pattern":
        return f"field '{where}' has an invalid value {error.instance!r:.80}", where
    if error.validator == "anyOf" and all(set(option) == {"required"} for option in error.validator_value):
        names = " or ".join(f"'{name}'" for option in error.validator_value for name in option["required"])
        return f"field '{where}' must carry {names}", where
    if error.validator in {"const", "enum"}:
        return f"field '{where}': {error.message}", where
    if error.validator == "type":
        return f"field '{where}' must be of type {error.validator_value}", where
    return f"field '{where}': {error.message[:200]}", where


def validate_against(schema_name: str, data: Any) -> None:
    if fast_check_for(schema_name)(data):  # the common case; collecting errors costs more
        return
    error = best_match(validator_for(schema_name).iter_errors(data))
    if error is not None:
        message, location = _describe(error)
        raise BadRequest(message, location=location)


Unset = msgspec.UnsetType


class Envelope(msgspec.Struct):
    """A hook call's top level, decoded in one pass: the prefetch values are kept as raw JSON
    (checked to be JSON, not yet read), so the reader decodes each one straight into records."""

    hook: Any | Unset = msgspec.UNSET
    hookInstance: Any | Unset = msgspec.UNSET
    context: Any | Unset = msgspec.UNSET
    prefetch: dict[str, msgspec.Raw] | Unset = msgspec.UNSET
    fhirServer: Any | Unset = msgspec.UNSET
    fhirAuthorization: Any | Unset = msgspec.UNSET
    extension: Any | Unset = msgspec.UNSET

    def fields(self) -> dict[str, Any]:
        """The fields the call carried, for the schema check; a prefetch value stands in as
        what its first byte makes it (an object or null: all the schema asks of it)."""
        found = {
            name: value
            for name in self.__struct_fields__
            if (value := getattr(self, name)) is not msgspec.UNSET
        }
        if isinstance(self.prefetch, dict):
            found["prefetch"] = {key: _shape(raw) for key, raw in self.prefetch.items()}
        return found


def _shape(raw: msgspec.Raw) -> Any:
    first = bytes(memoryview(raw)[:1])
    if first == b"{":
        return {}
    return None if first == b"n" else _loose.decode(raw)


_envelope = msgspec.json.Decoder(Envelope)
_loose = msgspec.json.Decoder()


def decode_envelope(body: bytes, *, max_depth: int) -> Envelope | Any:
    """The call's envelope, decoded once; when the body is not a JSON object of that shape,
    the body as parsed JSON (the schema check then says what is wrong) or a 400 naming the
    JSON error."""
    body = _prepared(body, max_depth)
    try:
        return _envelope.decode(body)
    except msgspec.ValidationError:
        return _parse(body, max_depth)  # not an object, or a prefetch that is not one
    except msgspec.DecodeError:
        return _parse(body, max_depth)  # raises, wording the JSON error


def _decoded_prefetch(values: dict[str, Any]) -> dict[str, Any]:
    try:
        return {key: decode(value) for key, value in values.items()}
    except NotJson as error:
        message = f"request body is not valid JSON in prefetch ({error})"
        raise BadRequest(message, location="prefetch") from None


def hook_request(data: Envelope | Any) -> HookRequest:
    """The validated call from its envelope (or, for a body that is not one, its parsed JSON)."""
    fields = data.fields() if isinstance(data, Envelope) else data
    if not isinstance(fields, dict):
        raise BadRequest("request body must be a JSON object")
    validate_against("hook-request", fields)
    prefetch = data.prefetch if isinstance(data, Envelope) else fields.get("prefetch")
    return _hook_request(fields, _decoded_prefetch(prefetch or {}))


def _hook_request(data: dict[str, Any], prefetch: dict[str, Any]) -> HookRequest:
    auth = data.get("fhirAuthorization")
    return HookRequest(
        hook=data["hook"],
        hook_instance=data["hookInstance"],
        context=data["context"],
        prefetch=prefetch,
        fhir_server=data.get("fhirServer"),
        fhir_authorization=(
            FhirAuthorization(
                access_token=auth["access_token"],
                token_type=auth["token_type"],
                scope=auth["scope"],
                subject=auth["subject"],
                patient=auth.get("patient"),
            )
            if auth
            else None
        ),
    )


def check_feedback_timestamps(data: dict[str, Any]) -> None:
    """Every outcomeTimestamp (already RFC 3339-shaped by the schema) names a real instant."""
    for index, item in enumerate(data["feedback"]):
        stamp = item["outcomeTimestamp"].upper()
        if stamp[17:19] == "60":  # RFC 3339 allows a leap second; Python's datetime does not
            stamp = stamp[:17] + "59" + stamp[19:]
        try:
            datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            location = f"feedback[{index}].outcomeTimestamp"
            raise BadRequest(
                f"field '{location}' is not a valid date and time: {item['outcomeTimestamp'][:40]!r}",
                location=location,
            ) from None

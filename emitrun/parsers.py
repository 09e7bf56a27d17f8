"""JSON request parsing: an empty body is {} (clients send bodiless POSTs)."""

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from emitrun import jsontext

_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONOrEmptyParser(JSONParser):
    """Parses JSON strictly (no NaN/Infinity nor numbers beyond a double's range, valid
    UTF-8); an empty body is {}. orjson reads it (emitrun/jsontext.py); the standard
    library reads what orjson would not, and words the errors.
    """

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        raw = stream.read() if stream is not None else b""
        if not raw or not raw.strip():
            return {}
        data = jsontext.loads(raw, _strict_loads)
        # PostgreSQL cannot store NUL in text or jsonb, and a lone surrogate cannot be
        # encoded as UTF-8: refused here as bad input rather than failing at INSERT time.
        # Only a \\u escape can carry either (the raw bytes are invalid JSON or UTF-8).
        if b"\\u" in raw and _holds_unstorable(data):
            raise ParseError("strings may not contain NUL (\\u0000) or lone surrogate characters")
        return data


def _strict_loads(raw: bytes) -> Any:
    """The standard library's reading, with its wording of every error."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"body is not valid UTF-8 ({exc.reason})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except RecursionError:
        raise ParseError("JSON nested too deeply") from None
    except ValueError as exc:
        raise ParseError(str(exc)) from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    """A number the JSON text spells out, refused when beyond a double's range (1e400):
    it would read as infinity, which JSON (and PostgreSQL's jsonb) cannot hold.
    """
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _holds_unstorable(data: Any) -> bool:
    """Whether any string (key or value) in the parsed document holds NUL or a surrogate."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False

"""JSON request parsing: an empty body is {} (clients send bodiless POSTs)."""

import json
import re
from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONOrEmptyParser(JSONParser):
    """Parses JSON strictly (no NaN/Infinity, valid UTF-8); an empty body is {}."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        raw = stream.read() if stream is not None else b""
        if not raw or not raw.strip():
            return {}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"body is not valid UTF-8 ({exc.reason})") from None
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise ParseError("JSON nested too deeply") from None
        except ValueError as exc:
            raise ParseError(str(exc)) from None
        # PostgreSQL cannot store NUL in text or jsonb, and a lone surrogate cannot be
        # encoded as UTF-8: refused here as bad input rather than failing at INSERT time.
        # Only a \\u escape can carry either (the raw bytes are invalid JSON or UTF-8).
        if "\\u" in text and _holds_unstorable(data):
            raise ParseError("strings may not contain NUL (\\u0000) or lone surrogate characters")
        return data


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


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

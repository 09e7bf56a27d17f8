"""JSON request parsing: an empty body is {} (clients send bodiless POSTs)."""

import json
from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


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
            return json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise ParseError("JSON nested too deeply") from None
        except ValueError as exc:
            raise ParseError(str(exc)) from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")

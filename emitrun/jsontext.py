"""JSON text on the hot paths, encoded and decoded by orjson (in C), with the standard
library as the fallback for what orjson reads or writes differently.

orjson writes compact UTF-8 and formats UUIDs and aware datetimes itself (RFC 3339,
which PostgreSQL reads), about ten times faster than `json.dumps`. Where it would differ
from the standard library in a way a user could see, the standard library decides:

- integers beyond 64 bits: orjson refuses to write them and reads them as floats (losing
  digits), so such values and documents take the standard library's path;
- keys that are not strings, and types orjson does not know: the standard library's
  path (which converts keys to strings, as before).
"""

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

# A run of 19 digits may be an integer beyond 64 bits (2**63 has 19): such a document is
# read by the standard library, which keeps every digit. Strings holding long digit runs
# (ids, phone numbers) take that path too, which only costs time.
_LONG_NUMBER = re.compile(rb"\d{19}")


def dumps(value: Any) -> str:
    """`value` as compact JSON text; UUIDs and datetimes as strings."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: a huge integer, a non-string key, ...
        return json.dumps(value, separators=(",", ":"), default=_plain)


def size(value: Any) -> int:
    """The length in bytes of `value` as compact UTF-8 JSON."""
    try:
        return len(orjson.dumps(value))
    except TypeError:
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def loads(raw: bytes, slow: Callable[[bytes], Any]) -> Any:
    """The document in `raw`, read by orjson, or by `slow` (the standard library's path)
    when orjson refuses it (so the standard library words the error: orjson never accepts
    what the standard library refuses) or when it may hold an integer orjson would read
    as a float. NUL characters are read as they are; the caller checks for them.
    """
    if _LONG_NUMBER.search(raw):
        return slow(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return slow(raw)


def _plain(value: Any) -> str:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

"""Rules for values from outside that several apps check: job names and HTTP headers."""

import re
from typing import Any

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
NAME_MAX = 64
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


def is_job_name(value: str) -> bool:
    """A job (queue) name: lowercase letters, digits, '.', '_', '-'; at most 64."""
    return len(value) <= NAME_MAX and bool(NAME_RE.match(value))


def check_headers(value: Any) -> dict[str, str]:
    """HTTP headers to send: token names, single-line values, at most 20.

    Raises ValueError saying what is wrong (a newline would let a value inject headers).
    """
    if not isinstance(value, dict):
        raise ValueError("must be an object of header name -> value")
    if len(value) > 20:
        raise ValueError("at most 20 headers")
    for name, header in value.items():
        if not HEADER_NAME_RE.match(str(name)):
            raise ValueError(f"invalid header name {name!r}")
        if (
            not isinstance(header, str)
            or len(header) > 2048
            or any(c in header for c in "\r\n\x00")
        ):
            raise ValueError(
                f"header {name!r} must be a single-line string of at most 2048 characters"
            )
    return value

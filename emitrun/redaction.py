"""A logging formatter that keeps secrets out of logs, whatever logs them.

API token secrets (`emr_...`) can reach a log line through a WebSocket URL's `?token=`
(the ASGI server's access log), an echoed Authorization header, or a client's own bad
input quoted in an error. Every line formatted by a handler using this formatter has them
replaced by `emr_[redacted]`, as have `Bearer <value>` and `token=<value>` pairs;
settings.LOGGING routes Django's, the ASGI server's and Celery's loggers through it.
"""

import logging
import re

_PATTERNS = [
    (re.compile(r"emr_[A-Za-z0-9_\-]+"), "emr_[redacted]"),
    (re.compile(r"(?i)(bearer[ .])[A-Za-z0-9_\-.~+/=:]+"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:access_|refresh_|api_)?(?:token|key)=)[^&\s\"']+"), r"\1[redacted]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter whose output (message, arguments and traceback) has secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

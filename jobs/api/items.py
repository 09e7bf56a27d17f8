"""The plain job body, accepted without DRF's per-field machinery.

Most of a bulk's validation time went to DRF running eleven fields per item. A body
whose fields all hold plain values (checked here) is accepted directly, with the very
values CreateJobInput would give it; any other body, valid or not, goes to
CreateJobInput, so every error keeps its wording. tests/test_bulk_create.py holds both
paths to the same answers.
"""

from typing import Any

from emitrun.validation import NAME_MAX, NAME_RE
from jobs.api.fields import check_size
from jobs.lifecycle import JobSpec, tag_names

# Parsing dates and checking URLs and headers is left to the serializer.
_FULL_CHECK = frozenset({"scheduled_for", "callback_url", "callback_headers", "callback_secret"})
_RANGES = {"priority": (-100, 100), "max_retries": (0, 100), "timeout_seconds": (1, 86400)}


def plain_spec(data: dict[str, Any]) -> JobSpec | None:
    """The spec CreateJobInput would make of `data` (snake_case keys), or None when the
    body needs the serializer. Raises PayloadTooLarge as the serializer does.
    """
    if not _FULL_CHECK.isdisjoint(data):
        return None
    name, key, tags = data.get("name"), data.get("idempotency_key"), data.get("tags")
    if not (_plain_text(name, NAME_MAX) and NAME_RE.match(name)):
        return None
    if key is not None and not _plain_text(key, 255):
        return None
    if tags is not None and not _plain_tags(tags):
        return None
    numbers = {
        field: data[field]
        for field in ("priority", "max_retries", "timeout_seconds")
        if field in data
    }
    if not all(_int_within(value, *_RANGES[field]) for field, value in numbers.items()):
        return None
    payload = data.get("payload")
    check_size("payload", payload)
    return JobSpec(name=name, payload=payload, tags=tags, idempotency_key=key, **numbers)


def _plain_text(value: Any, max_length: int) -> bool:
    """A string DRF's CharField keeps as it is: not blank, no surrounding whitespace to
    trim, ASCII (so no surrogates), no NUL, not too long."""
    return (
        type(value) is str
        and 0 < len(value) <= max_length
        and value.isascii()
        and value == value.strip()
        and "\x00" not in value
    )


def _int_within(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high  # bool is not an int here


def _plain_tags(tags: Any) -> bool:
    """CreateJobInput.validate_tags would accept them."""
    return (
        isinstance(tags, list | dict)
        and len(tags) <= 100
        and all(len(tag) <= 255 for tag in tag_names(tags))
    )

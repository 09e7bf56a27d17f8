"""Strict JSON field types and the checks every job input shares."""

import copy
import re
from typing import Any

from django.conf import settings
from rest_framework import serializers

from emitrun import jsontext
from emitrun.errors import PayloadTooLarge
from emitrun.validation import NAME_RE, check_headers

EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


class StrictIntegerField(serializers.IntegerField):
    """An integer in JSON: no strings, no booleans, no fractions."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string; numbers are not silently turned into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class ParsedJSONField(serializers.JSONField):
    """Any JSON value of a request body, taken as it is. DRF's JSONField encodes every
    value again to check that it can be; a value the body's parser just read from JSON
    always can (a bulk's hundred items cost as much again as their INSERT).
    """

    def to_internal_value(self, data: Any) -> Any:
        return data


class NameField(StrictCharField):
    """A job (queue) name: lowercase letters, digits, '.', '_', '-'; at most 64."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not NAME_RE.match(value):
            raise serializers.ValidationError(
                "must start with a lowercase letter or digit and hold only a-z, 0-9, '.', '_', '-'"
            )
        return value


def check_size(field: str, value: Any) -> int:
    """Raises PayloadTooLarge (413) when `value` as JSON is over the payload limit."""
    size = jsontext.size(value)
    limit = settings.EMITRUN_MAX_PAYLOAD_BYTES
    if size > limit:
        raise PayloadTooLarge(
            f"{field} is {size} bytes; the limit is {limit}",
            {"field": field, "size": size, "limit": limit},
        )
    return size


def snake_keys(data: Any, aliases: dict[str, str]) -> Any:
    """camelCase keys to snake_case, then documented aliases to our names.

    Two spellings of one field must agree (`name` and `queueName`, say): a conflict is a
    400 naming the second spelling, never a silent choice.
    """
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    first: dict[str, str] = {}
    for key, value in data.items():
        spelled = _CAMEL.sub("_", key).lower() if isinstance(key, str) else key
        snake = aliases.get(spelled, spelled)
        if snake in out:
            if out[snake] != value:
                raise serializers.ValidationError(
                    {spelled: [f"conflicts with {first[snake]}; give one of them"]}
                )
            continue
        out[snake] = value
        first[snake] = key
    return out


def validate_headers(value: Any) -> dict[str, str]:
    """HTTP headers to send (emitrun.validation.check_headers), as a serializer check."""
    try:
        return check_headers(value)
    except ValueError as exc:
        raise serializers.ValidationError(str(exc)) from None


class Input(serializers.Serializer):
    """Base of request bodies: accepts camelCase and the documented aliases."""

    aliases: dict[str, str] = {}

    def get_fields(self) -> dict[str, serializers.Field]:
        """The declared fields, each copied for this instance to bind. DRF deep-copies
        them, which builds every field anew (its __init__, its validators) on every
        request; a plain field's shallow copy binds just as well, as the declared one is
        never bound or changed. Fields holding other fields are still deep-copied.
        """
        return {name: _fresh(field) for name, field in self._declared_fields.items()}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["expected a JSON object"]})
        return super().to_internal_value(snake_keys(data, self.aliases))


def _fresh(field: serializers.Field) -> serializers.Field:
    nested = isinstance(field, serializers.BaseSerializer) or hasattr(field, "child")
    return copy.deepcopy(field) if nested or hasattr(field, "child_relation") else copy.copy(field)

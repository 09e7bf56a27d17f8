"""A serializer's answer for model instances without DRF's per-field machinery.

`Serializer.to_representation` walks every field through a generator, a generic attribute
lookup (a Mapping check, a callable check, exception handling) and a PKOnlyObject check:
on a job of 31 fields that was ~530 Python calls, more than the worker's whole ack spent
in the database driver. `compile_representation` works out once which fields are plain
attribute paths and reads those with `getattr`; every other case (a `*` source, a related
field, a missing attribute, a callable, an instance that is not a model) takes DRF's own
path, so the answer is the same dict DRF would build. tests/test_representation.py
compares the two.
"""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model
from rest_framework import relations, serializers
from rest_framework.fields import SkipField

Represent = Callable[[Any], dict[str, Any]]


def compile_representation(serializer: serializers.Serializer) -> Represent:
    """`serializer.to_representation`, faster for model instances (same output)."""
    steps: list[tuple[str, tuple[str, ...] | None, serializers.Field]] = []
    for field in serializer._readable_fields:
        plain = (
            field.source != "*"
            and bool(field.source_attrs)
            and not isinstance(field, relations.RelatedField | relations.ManyRelatedField)
        )
        steps.append((field.field_name, tuple(field.source_attrs) if plain else None, field))

    def represent(instance: Any) -> dict[str, Any]:
        if not isinstance(instance, Model):
            return serializer.to_representation(instance)
        ret: dict[str, Any] = {}
        for name, attrs, field in steps:
            try:
                value = _read(instance, attrs, field)
            except SkipField:
                continue
            check = value.pk if isinstance(value, relations.PKOnlyObject) else value
            ret[name] = None if check is None else field.to_representation(value)
        return ret

    return represent


def _read(instance: Model, attrs: tuple[str, ...] | None, field: serializers.Field) -> Any:
    """The field's value: `getattr` along a plain path, else DRF's `get_attribute`."""
    if attrs is None:
        return field.get_attribute(instance)
    value: Any = instance
    try:
        for attr in attrs:
            value = getattr(value, attr)
    except (AttributeError, ObjectDoesNotExist):
        return field.get_attribute(instance)  # DRF's defaults, nulls and errors
    if callable(value):
        return field.get_attribute(instance)  # DRF calls methods along the path
    return value


_compiled: dict[type[serializers.Serializer], Represent] = {}


def represent_all(serializer_cls: type[serializers.Serializer], instances: Any) -> list[dict]:
    """`serializer_cls(instances, many=True).data` for a serializer that needs no context."""
    represent = _compiled.get(serializer_cls)
    if represent is None:
        represent = _compiled.setdefault(serializer_cls, compile_representation(serializer_cls()))
    return [represent(instance) for instance in instances]

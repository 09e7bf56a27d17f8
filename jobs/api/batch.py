"""Batch worker routes: ack or complete up to 100 jobs in one call and one transaction.

POST /spaces/{space_id}/jobs/ack and /spaces/{space_id}/jobs/complete take
`{"jobs": [{"id", "lease_id", "worker_id", "result"}]}` and answer per item, like bulk
create: valid items take effect even when others are refused.
"""

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from emitrun.errors import DomainError
from jobs import lifecycle
from jobs.api.base import SpaceAPIView, batch_answer
from jobs.api.serializers import BatchInput, BatchItemInput
from jobs.lifecycle import ItemOutcome, LeaseItem
from spaces import scopes

_DATETIME = serializers.DateTimeField()  # the same format as the job object
BatchOut = inline_serializer(
    "BatchOut",
    {
        "succeeded": serializers.ListField(),
        "failed": serializers.ListField(),
        "total": serializers.IntegerField(),
        "success_count": serializers.IntegerField(),
        "failure_count": serializers.IntegerField(),
    },
)


class _BatchView(SpaceAPIView):
    move: Callable[..., list[ItemOutcome]]

    @extend_schema(request=BatchInput, responses=BatchOut)
    def post(self, request: Request, space_id: str) -> Response:
        space = self.space(request, space_id)
        data = {"jobs": request.data} if isinstance(request.data, list) else request.data
        items = self.valid(BatchInput, data).validated_data["jobs"]
        leases, indexes, failed = [], [], []
        checker = BatchItemInput()  # one unbound serializer checks every item
        for index, raw in enumerate(items):
            try:
                v = _checked(checker, raw)
                lease = {
                    "lease_id": v.get("lease_id") or None,
                    "worker_id": v.get("worker_id") or None,
                }
                leases.append(LeaseItem(v["id"], result=v["result"], **lease))
                indexes.append(index)
                continue
            except serializers.ValidationError as exc:
                error = {"code": "VALIDATION_ERROR", "message": _flatten(exc.detail)}
            except DomainError as exc:  # an oversized result
                error = {"code": exc.code, "message": exc.message}
            failed.append({"index": index, "id": _id_of(raw), "error": error})
        outcomes = type(self).move(space, leases, actor=self.actor(request)) if leases else []
        succeeded = []
        for index, outcome in zip(indexes, outcomes, strict=True):
            if outcome.error is not None:
                err = {"code": outcome.error.code, "message": outcome.error.message}
                failed.append({"index": index, "id": str(outcome.item.job_id), "error": err})
            else:
                succeeded.append({"index": index, **_moved(outcome)})
        failed.sort(key=lambda f: f["index"])
        return batch_answer(succeeded, failed, len(items))


class BatchAckView(_BatchView):
    """POST /spaces/{space_id}/jobs/ack: delivered -> running for each listed job."""

    required_scopes = [scopes.ACK]
    move = staticmethod(lifecycle.ack_many)


class BatchCompleteView(_BatchView):
    """POST /spaces/{space_id}/jobs/complete: running -> completed for each listed job."""

    required_scopes = [scopes.COMPLETE]
    move = staticmethod(lifecycle.complete_many)


def _moved(outcome: ItemOutcome) -> dict[str, Any]:
    job = outcome.job
    assert job is not None  # noqa: S101 - an outcome without an error has its job
    return {
        "id": str(job.id),
        "status": job.status,
        "lease_id": str(job.lease_id) if job.lease_id else None,
        "lease_expires_at": _DATETIME.to_representation(job.lease_expires_at)
        if job.lease_expires_at
        else None,
        "attempts": job.attempts,
    }


def _checked(checker: serializers.Serializer, raw: Any) -> dict[str, Any]:
    """What `BatchItemInput(data=raw).is_valid()` would give as validated_data, without
    building a serializer per item; its `.errors` come as the ValidationError's detail.
    """
    try:
        return checker.run_validation(raw)
    except serializers.ValidationError as exc:
        detail = exc.detail
        if (
            isinstance(detail, list)
            and len(detail) == 1
            and getattr(detail[0], "code", "") == "null"
        ):
            detail = {api_settings.NON_FIELD_ERRORS_KEY: ["No data provided"]}
        raise serializers.ValidationError(detail) from None


def _id_of(raw: Any) -> str | None:
    value = raw.get("id", raw.get("job_id")) if isinstance(raw, dict) else None
    return str(value)[:64] if value is not None else None


def _flatten(errors: dict) -> str:
    return "; ".join(
        f"{field}: {' '.join(str(m) for m in msgs)}"
        if isinstance(msgs, list)
        else f"{field}: {msgs}"
        for field, msgs in errors.items()
    )

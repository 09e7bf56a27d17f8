"""What every jobs API view shares: the token's space, validated input, paged lists."""

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from emitrun.errors import NotFound
from emitrun.representation import represent_all
from jobs import lifecycle, queries
from jobs.lifecycle import Actor
from jobs.models import Job
from spaces.models import ApiToken, Space


class SpaceAPIView(APIView):
    """A view working on the token's own space. Every view sets `required_scopes`."""

    required_scopes: list[str] | dict[str, list[str]] = []

    def space(self, request: Request, space_id: str | None = None) -> Space:
        """The token's space; a route naming another space answers 404."""
        token: ApiToken = request.auth
        if space_id is not None and str(token.space_id) != str(space_id).lower():
            raise NotFound(f"No space {space_id}")
        return token.space

    def job(self, request: Request, job_id: str) -> Job:
        return queries.get_job_for_space(self.space(request), job_id)

    def job_ref(self, request: Request, job_id: str) -> Job:
        """The job for a lifecycle call that locks it first: that lock is its only read
        (an unknown or foreign id answers 404 from there).
        """
        return lifecycle.ref(self.space(request), job_id)

    def valid_for(
        self, job: Job, serializer_cls: type[serializers.Serializer], data: Any
    ) -> serializers.Serializer:
        """`valid()` for a call on a job reference: an unknown or foreign job answers 404
        before a bad body answers 400, as when the job was read first.
        """
        try:
            return self.valid(serializer_cls, data)
        except (serializers.ValidationError, ParseError):
            queries.get_job_for_space(job.space, job.pk)  # NotFound wins
            raise

    def actor(self, request: Request) -> Actor:
        return Actor.token(request.auth)

    def valid(
        self, serializer_cls: type[serializers.Serializer], data: Any, **kwargs: Any
    ) -> serializers.Serializer:
        """The serializer bound to `data`, validated (400 with the failing fields)."""
        serializer = serializer_cls(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer


def paged(
    qs: QuerySet,
    page: serializers.Serializer,
    out: type[serializers.Serializer],
    *,
    keyset: queries.JobFilter | None = None,
) -> Response:
    """A bare JSON array with X-Has-More (and X-Next-Cursor when keyset paging applies)."""
    limit = page.validated_data["limit"]
    cursor = page.validated_data.get("cursor")
    if cursor and keyset is not None:
        rows = list(queries.after_cursor(qs, keyset, cursor)[: limit + 1])
    else:
        offset = page.validated_data["offset"]
        rows = list(qs[offset : offset + limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    response = Response(represent_all(out, rows))
    response["X-Has-More"] = "true" if has_more else "false"
    if has_more and keyset is not None and rows:
        response["X-Next-Cursor"] = queries.encode_cursor(rows[-1], keyset)
    return response


def with_space(jobs: list[Job], space: Space) -> list[Job]:
    for job in jobs:
        job.space = space
    return jobs


def batch_answer(succeeded: list[dict], failed: list[dict], total: int) -> Response:
    """The answer of every batch route: per-item results, failures by input index."""
    return Response(
        {
            "succeeded": succeeded,
            "failed": failed,
            "total": total,
            "success_count": len(succeeded),
            "failure_count": len(failed),
        }
    )

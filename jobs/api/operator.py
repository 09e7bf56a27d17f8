"""Operator routes: kill, retry, priority, the dead-letter queue, stats."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from jobs import lifecycle, queries
from jobs.api.base import SpaceAPIView, paged
from jobs.api.serializers import (
    DlqPurgeInput,
    DlqRetryInput,
    JobOut,
    JobSummaryOut,
    ListQuery,
    PriorityInput,
)
from jobs.models import Status
from spaces import scopes


class KillView(SpaceAPIView):
    """POST /jobs/{id}/kill: force-stop a job in any non-terminal state."""

    required_scopes = [scopes.KILL]

    @extend_schema(request=None, responses=JobOut)
    def post(self, request: Request, job_id: str) -> Response:
        job = lifecycle.kill(self.job(request, job_id), actor=self.actor(request))
        return Response({"success": True, "job": JobOut(job).data})


class RetryView(SpaceAPIView):
    """POST /jobs/{id}/retry: a dead, killed or cancelled job back to pending."""

    required_scopes = [scopes.MANAGE]

    @extend_schema(request=None, responses=JobOut)
    def post(self, request: Request, job_id: str) -> Response:
        job = lifecycle.retry(self.job(request, job_id), actor=self.actor(request))
        return Response(JobOut(job).data)


class PriorityView(SpaceAPIView):
    required_scopes = [scopes.MANAGE]

    @extend_schema(
        request=PriorityInput,
        responses=inline_serializer(
            "PriorityOut",
            {
                "job_id": serializers.UUIDField(),
                "old_priority": serializers.IntegerField(),
                "new_priority": serializers.IntegerField(),
            },
        ),
    )
    def put(self, request: Request, job_id: str) -> Response:
        job = self.job(request, job_id)
        priority = self.valid(PriorityInput, request.data).validated_data["priority"]
        job, old = lifecycle.set_priority(job, priority=priority, actor=self.actor(request))
        return Response({"job_id": str(job.id), "old_priority": old, "new_priority": priority})


class DlqListView(SpaceAPIView):
    """GET /jobs/dlq: dead jobs, filtered and paged like the job list."""

    required_scopes = [scopes.READ]

    @extend_schema(parameters=[ListQuery], responses=JobSummaryOut(many=True))
    def get(self, request: Request) -> Response:
        space = self.space(request)
        query = self.valid(ListQuery, request.query_params)
        f = query.job_filter()
        f.statuses = [Status.DEAD.value]
        return paged(queries.filter_jobs(space, f), query, JobSummaryOut, keyset=f)


class DlqRetryView(SpaceAPIView):
    required_scopes = [scopes.MANAGE]

    @extend_schema(
        request=DlqRetryInput,
        responses=inline_serializer(
            "DlqRetryOut",
            {
                "retried_count": serializers.IntegerField(),
                "retried_jobs": serializers.ListField(child=serializers.UUIDField()),
                "skipped_jobs": serializers.ListField(child=serializers.CharField()),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        space = self.space(request)
        v = self.valid(DlqRetryInput, request.data).validated_data
        ids = [str(i) for i in v["job_ids"]] if v.get("job_ids") is not None else None
        jobs, skipped = lifecycle.retry_dead(
            space,
            actor=self.actor(request),
            queue_name=v.get("queue_name"),
            job_ids=ids,
            limit=v["limit"],
        )
        retried = [str(job.id) for job in jobs]
        return Response(
            {
                "retried_count": len(retried),
                "retried_jobs": retried,
                "job_ids": retried,
                "skipped_jobs": skipped,
            }
        )


class DlqPurgeView(SpaceAPIView):
    """POST /jobs/dlq/purge: delete dead jobs; refuses without `confirm: true`."""

    required_scopes = [scopes.MANAGE]

    @extend_schema(
        request=DlqPurgeInput,
        responses=inline_serializer("DlqPurgeOut", {"purged_count": serializers.IntegerField()}),
    )
    def post(self, request: Request) -> Response:
        space = self.space(request)
        v = self.valid(DlqPurgeInput, request.data).validated_data
        count = lifecycle.purge_dead(
            space,
            queue_name=v.get("queue_name"),
            older_than=v.get("older_than"),
            limit=v["limit"],
            actor=self.actor(request),
        )
        return Response({"purged_count": count})


class StatsView(SpaceAPIView):
    """GET /jobs/stats: job counts in Spooled's status names."""

    required_scopes = [scopes.READ]

    @extend_schema(
        responses=inline_serializer(
            "JobStatsOut",
            {
                name: serializers.IntegerField()
                for name in (
                    "pending",
                    "scheduled",
                    "processing",
                    "completed",
                    "failed",
                    "deadletter",
                    "cancelled",
                    "total",
                )
            },
        )
    )
    def get(self, request: Request) -> Response:
        return Response(queries.stats(self.space(request)))

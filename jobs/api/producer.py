"""Producer routes: create (single, bulk), list, get, history, batch status, cancel."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from emitrun.errors import DomainError
from jobs import lifecycle, queries
from jobs.api.base import SpaceAPIView, batch_answer, paged
from jobs.api.fields import check_size
from jobs.api.serializers import (
    BulkCreateInput,
    CreateJobInput,
    EventInput,
    EventOut,
    EventsQuery,
    JobOut,
    JobProgressOut,
    JobSummaryOut,
    ListQuery,
    StatusQuery,
    job_data,
)
from spaces import scopes

CreatedOut = inline_serializer(
    "CreatedOut",
    {"id": serializers.UUIDField(), "created": serializers.BooleanField(), "job": JobOut()},
)


class JobsView(SpaceAPIView):
    """GET: list the space's jobs. POST: create a job."""

    required_scopes = {"GET": [scopes.READ], "POST": [scopes.CREATE]}

    @extend_schema(parameters=[ListQuery], responses=JobSummaryOut(many=True))
    def get(self, request: Request, space_id: str | None = None) -> Response:
        space = self.space(request, space_id)
        query = self.valid(ListQuery, request.query_params)
        f = query.job_filter()
        return paged(queries.filter_jobs(space, f), query, JobSummaryOut, keyset=f)

    @extend_schema(request=CreateJobInput, responses={201: CreatedOut, 200: CreatedOut})
    def post(self, request: Request, space_id: str | None = None) -> Response:
        space = self.space(request, space_id)
        spec = CreateJobInput().spec_of(request.data)  # a plain body skips DRF's fields
        result = lifecycle.create(space, spec, actor=self.actor(request))
        body = {"id": str(result.job.id), "created": result.created, "job": job_data(result.job)}
        return Response(body, status=201 if result.created else 200)


class JobBulkView(SpaceAPIView):
    """POST: create up to 100 jobs; valid items are created even when others fail."""

    required_scopes = [scopes.CREATE]

    @extend_schema(
        request=BulkCreateInput,
        responses=inline_serializer(
            "BulkOut",
            {
                "succeeded": serializers.ListField(),
                "failed": serializers.ListField(),
                "total": serializers.IntegerField(),
                "success_count": serializers.IntegerField(),
                "failure_count": serializers.IntegerField(),
            },
        ),
    )
    def post(self, request: Request, space_id: str | None = None) -> Response:
        space = self.space(request, space_id)
        batch = self.valid(BulkCreateInput, request.data)
        items = batch.validated_data["jobs"]
        specs, indexes, failed = [], [], []
        check = CreateJobInput()
        for index, item in enumerate(items):
            try:
                specs.append(check.spec_of(batch.item_data(item)))
                indexes.append(index)
                continue
            except serializers.ValidationError as exc:  # bad fields, or two spellings disagree
                error = _flatten(exc.detail)
            except DomainError as exc:  # an oversized payload
                error = exc.message
            failed.append({"index": index, "error": error})
        results = lifecycle.create_many(space, specs, actor=self.actor(request)) if specs else []
        succeeded = [
            {"index": i, "job_id": str(r.job.id), "created": r.created}
            for i, r in zip(indexes, results, strict=True)
        ]
        return batch_answer(succeeded, failed, len(items))


def _flatten(errors: dict) -> str:
    return "; ".join(
        f"{field}: {' '.join(str(m) for m in msgs)}"
        if isinstance(msgs, list)
        else f"{field}: {msgs}"
        for field, msgs in errors.items()
    )


class JobDetailView(SpaceAPIView):
    """GET: one job (id, status and progress only for a jobs:read:progress token).
    DELETE: cancel a scheduled or pending job.
    """

    required_scopes = {"GET": [scopes.READ, scopes.READ_PROGRESS], "DELETE": [scopes.MANAGE]}

    @extend_schema(responses=JobOut)
    def get(self, request: Request, job_id: str) -> Response:
        job = self.job(request, job_id)
        if not request.auth.has_scope(scopes.READ):
            return Response(JobProgressOut(job).data)
        return Response(JobOut(job).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, job_id: str) -> Response:
        lifecycle.cancel(self.job(request, job_id), actor=self.actor(request))
        return Response(status=204)


class JobCancelView(SpaceAPIView):
    required_scopes = [scopes.MANAGE]

    @extend_schema(request=None, responses=JobOut)
    def post(self, request: Request, job_id: str) -> Response:
        job = lifecycle.cancel(self.job(request, job_id), actor=self.actor(request))
        return Response({"success": True, "job": JobOut(job).data})


class JobEventsView(SpaceAPIView):
    """GET: the job's history, oldest first. POST: publish a custom event (worker)."""

    required_scopes = {"GET": [scopes.READ], "POST": [scopes.EVENT]}

    @extend_schema(parameters=[EventsQuery], responses=EventOut(many=True))
    def get(self, request: Request, job_id: str) -> Response:
        job = self.job(request, job_id)
        query = self.valid(EventsQuery, request.query_params)
        events = queries.events_of(job, descending=query.validated_data["order_dir"] == "desc")
        return paged(events, query, EventOut)

    @extend_schema(request=EventInput, responses=EventOut)
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job_ref(request, job_id)
        inp = self.valid_for(job, EventInput, request.data)
        check_size("data", inp.validated_data["data"])
        event = lifecycle.add_event(
            job,
            type_=inp.validated_data["type"],
            data=inp.validated_data["data"],
            actor=self.actor(request),
            **inp.lease(),
        )
        return Response({"success": True, "event": EventOut(event).data})


class JobStatusBatchView(SpaceAPIView):
    """GET /jobs/status?ids=a,b: the status of up to 100 jobs (unknown ids are left out)."""

    required_scopes = [scopes.READ]

    @extend_schema(
        parameters=[StatusQuery],
        responses=inline_serializer(
            "BatchStatusOut",
            {
                "id": serializers.UUIDField(),
                "status": serializers.CharField(),
                "queue_name": serializers.CharField(),
                "retry_count": serializers.IntegerField(),
                "created_at": serializers.DateTimeField(),
                "completed_at": serializers.DateTimeField(allow_null=True),
            },
            many=True,
        ),
    )
    def get(self, request: Request) -> Response:
        space = self.space(request)
        ids = self.valid(StatusQuery, request.query_params).validated_data["ids"]
        jobs = {str(j.id): j for j in queries.jobs_by_ids(space, ids)}
        field = serializers.DateTimeField()
        return Response(
            [
                {
                    "id": str(job.id),
                    "status": job.status,
                    "queue_name": job.name,
                    "retry_count": job.retry_count,
                    "created_at": field.to_representation(job.created_at),
                    "completed_at": field.to_representation(job.completed_at)
                    if job.completed_at
                    else None,
                }
                for job in (jobs[i] for i in dict.fromkeys(ids) if i in jobs)
            ]
        )

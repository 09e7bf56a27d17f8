"""Worker routes: poll (with long-poll), claim, claim by id, ack, progress, checkpoint,
keepalive/heartbeat, complete, fail.
"""

import time

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from emitrun import metrics
from jobs import lifecycle, wakeup
from jobs.api.base import SpaceAPIView
from jobs.api.fields import check_size
from jobs.api.serializers import (
    AckInput,
    CheckpointInput,
    ClaimInput,
    ClaimOneInput,
    CompleteInput,
    FailInput,
    JobOut,
    KeepaliveInput,
    PollInput,
    ProgressInput,
    job_data,
)
from jobs.models import Job
from spaces import scopes

# Re-check for work at least this often while long-polling, so a job that comes
# due by the clock (no wake-up is sent for that) waits at most this long.
RECHECK_SECONDS = 1.0


def _jobs(jobs: list[Job]) -> Response:
    return Response({"jobs": [job_data(job) for job in jobs]})


def _done(job: Job) -> Response:
    return Response({"success": True, "job": job_data(job)})


class PollView(SpaceAPIView):
    """POST /spaces/{space_id}/jobs/poll: deliver up to `limit` pending jobs; with
    `wait_seconds`, hold the request until a job is ready or the time is up.
    """

    required_scopes = [scopes.POLL]

    @extend_schema(request=PollInput, responses=JobOut(many=True))
    def post(self, request: Request, space_id: str) -> Response:
        space = self.space(request, space_id)
        inp = self.valid(PollInput, request.data).validated_data
        deadline = time.monotonic() + inp["wait_seconds"]
        while True:
            seen = wakeup.version(space.pk)
            with metrics.claim_timer():
                jobs = lifecycle.poll(
                    space,
                    limit=inp["limit"],
                    names=inp.get("names"),
                    worker_id=inp["worker_id"],
                    actor=self.actor(request),
                )
            remaining = deadline - time.monotonic()
            if jobs or remaining <= 0 or wakeup.draining():  # a stopping node answers now
                return _jobs(jobs)
            if not connection.in_atomic_block:
                connection.close()  # give the connection back to the pool while waiting
            wakeup.wait(
                space.pk, seen, timeout=min(remaining, RECHECK_SECONDS), names=inp.get("names")
            )


class ClaimView(SpaceAPIView):
    """POST /jobs/claim: take up to `limit` pending jobs straight to running (claim acks),
    under a lease of `lease_duration_secs` that heartbeats extend.
    """

    required_scopes = [scopes.POLL]

    @extend_schema(request=ClaimInput, responses=JobOut(many=True))
    def post(self, request: Request) -> Response:
        space = self.space(request)
        inp = self.valid(ClaimInput, request.data).validated_data
        names = [inp["queue_name"]] if inp.get("queue_name") else None
        with metrics.claim_timer():
            jobs = lifecycle.claim_running(
                space,
                limit=inp["limit"],
                names=names,
                worker_id=inp["worker_id"],
                lease_seconds=inp["lease_duration_secs"],
                actor=self.actor(request),
            )
        return _jobs(jobs)


class ClaimOneView(SpaceAPIView):
    """POST /jobs/{id}/claim: deliver exactly this pending job (after an HTTP push)."""

    required_scopes = [scopes.POLL]

    @extend_schema(request=ClaimOneInput, responses=JobOut, operation_id="v1_jobs_claim_one")
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job_ref(request, job_id)
        inp = self.valid_for(job, ClaimOneInput, request.data).validated_data
        return _done(
            lifecycle.claim_one(job, worker_id=inp["worker_id"], actor=self.actor(request))
        )


class AckView(SpaceAPIView):
    required_scopes = [scopes.ACK]

    @extend_schema(request=AckInput, responses=JobOut)
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job_ref(request, job_id)
        inp = self.valid_for(job, AckInput, request.data)
        return _done(lifecycle.ack(job, actor=self.actor(request), **inp.lease()))


class ProgressView(SpaceAPIView):
    required_scopes = [scopes.PROGRESS]

    @extend_schema(request=ProgressInput, responses=JobOut)
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job_ref(request, job_id)
        inp = self.valid_for(job, ProgressInput, request.data)
        v = inp.validated_data
        return _done(
            lifecycle.progress(
                job,
                percent=v["percent"],
                message=v["message"],
                sub_progress=v.get("sub_progress"),
                actor=self.actor(request),
                **inp.lease(),
            )
        )


class CheckpointView(SpaceAPIView):
    required_scopes = [scopes.EVENT]

    @extend_schema(request=CheckpointInput, responses=JobOut)
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job_ref(request, job_id)
        inp = self.valid_for(job, CheckpointInput, request.data)
        data = inp.validated_data["data"]
        size = check_size("data", data)
        return _done(
            lifecycle.checkpoint(
                job, data=data, size=size, actor=self.actor(request), **inp.lease()
            )
        )


class KeepaliveView(SpaceAPIView):
    """POST /jobs/{id}/keepalive (or /heartbeat): the timeout window starts again."""

    required_scopes = [scopes.KEEPALIVE]

    @extend_schema(request=KeepaliveInput, responses=JobOut)
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job_ref(request, job_id)
        inp = self.valid_for(job, KeepaliveInput, request.data)
        return _done(
            lifecycle.keepalive(
                job,
                actor=self.actor(request),
                lease_seconds=inp.validated_data.get("lease_duration_secs"),
                **inp.lease(),
            )
        )


class CompleteView(SpaceAPIView):
    required_scopes = [scopes.COMPLETE]

    @extend_schema(request=CompleteInput, responses=JobOut)
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job_ref(request, job_id)
        inp = self.valid_for(job, CompleteInput, request.data)
        return _done(
            lifecycle.complete(
                job, result=inp.validated_data["result"], actor=self.actor(request), **inp.lease()
            )
        )


class FailView(SpaceAPIView):
    """POST /jobs/{id}/fail: retry after backoff while retries remain, else dead."""

    required_scopes = [scopes.FAIL]

    @extend_schema(request=FailInput, responses=JobOut)
    def post(self, request: Request, job_id: str) -> Response:
        job = self.job_ref(request, job_id)
        inp = self.valid_for(job, FailInput, request.data)
        v = inp.validated_data
        return _done(
            lifecycle.fail(
                job, error=v["error"], retry=v["retry"], actor=self.actor(request), **inp.lease()
            )
        )

"""Illegal transitions answer 409 with the right code and change nothing; every error
leaves as one flat body, and every answer carries a request id.
"""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from jobs import lifecycle
from jobs.models import Job, JobEvent
from tests.conftest import SYSTEM, create_job

JOBS = "/api/v1/jobs"
ERROR_KEYS = {"code", "message", "details"}

WORKER_CALLS = [
    ("delivered_job", "ack", {}),
    ("running_job", "progress", {"percent": 5, "message": "x"}),
    ("running_job", "checkpoint", {"data": {"p": 1}}),
    ("running_job", "events", {"type": "custom"}),
    ("running_job", "keepalive", {}),
    ("running_job", "heartbeat", {}),
    ("running_job", "complete", {"result": 1}),
    ("running_job", "fail", {"error": "x"}),
]


def url(job: Job, action: str = "") -> str:
    return f"{JOBS}/{job.id}/{action}".rstrip("/")


def conflict(response, code: str) -> dict:
    assert response.status_code == 409, response.content
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["code"] == code, body
    return body


def snapshot(job: Job) -> tuple:
    row = Job.objects.get(pk=job.pk)
    return (
        row.status,
        row.lease_id,
        row.result,
        row.attempts,
        JobEvent.objects.filter(job=job).count(),
    )


@pytest.fixture
def completed_job(running_job) -> Job:
    return lifecycle.complete(running_job, result={"n": 1}, actor=SYSTEM)


@pytest.fixture
def scheduled_job(space) -> Job:
    return create_job(space, scheduled_for=timezone.now() + timedelta(hours=1))


def later_than(deadline):
    return time_machine.travel(deadline + timedelta(seconds=1), tick=False)


@pytest.mark.parametrize(("holder", "action", "body"), WORKER_CALLS)
def test_worker_call_after_kill_answers_job_killed(api, request, holder, action, body):
    job = request.getfixturevalue(holder)
    assert api.operator.post(url(job, "kill")).status_code == 200
    before = snapshot(job)
    r = api.worker.post(url(job, action), {"lease_id": str(job.lease_id), **body})
    conflict(r, "JOB_KILLED")
    assert snapshot(job) == before


@pytest.mark.parametrize(("holder", "action", "body"), WORKER_CALLS)
def test_worker_call_with_a_bogus_lease_answers_lease_expired(api, request, holder, action, body):
    job = request.getfixturevalue(holder)
    before = snapshot(job)
    conflict(api.worker.post(url(job, action), {"lease_id": "bogus", **body}), "LEASE_EXPIRED")
    assert snapshot(job) == before


@pytest.mark.parametrize("old", ["lease", "worker_id"])
def test_worker_whose_delivery_was_handed_on_gets_lease_expired(api, make_client, space, old):
    job = create_job(space)
    (mine,) = api.worker.post(f"/api/v1/spaces/{space.id}/jobs/poll", {"worker_id": "w-1"}).json()[
        "jobs"
    ]
    proof = {"lease_id": mine["lease_id"]} if old == "lease" else {"worker_id": "w-1"}
    other = make_client("jobs:worker")
    later = timezone.now() + timedelta(seconds=space.delivery_timeout_seconds + 1)
    with time_machine.travel(later, tick=False):
        poll = other.post(f"/api/v1/spaces/{space.id}/jobs/poll", {"worker_id": "w-2"})
        (theirs,) = poll.json()["jobs"]
        assert (theirs["id"], theirs["worker_id"]) == (str(job.id), "w-2")
        assert theirs["lease_id"] != mine["lease_id"]
        conflict(api.worker.post(url(job, "ack"), proof), "LEASE_EXPIRED")
        assert other.post(url(job, "ack"), {"lease_id": theirs["lease_id"]}).status_code == 200
        conflict(api.worker.post(url(job, "complete"), proof), "LEASE_EXPIRED")
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.worker_id, row.attempts) == ("running", "w-2", 1)
    kinds = list(JobEvent.objects.filter(job=job).order_by("id").values_list("type", flat=True))
    assert kinds == ["job.created", "job.delivered", "job.pending", "job.delivered", "job.started"]


def test_ack_after_the_delivery_deadline_answers_lease_expired(api, delivered_job):
    with later_than(delivered_job.lease_expires_at):
        r = api.worker.post(url(delivered_job, "ack"), {"lease_id": str(delivered_job.lease_id)})
    conflict(r, "LEASE_EXPIRED")
    assert Job.objects.get(pk=delivered_job.pk).attempts == 0


def test_running_lease_past_its_deadline_answers_lease_expired(api, running_job):
    before = snapshot(running_job)
    with later_than(running_job.lease_expires_at):
        r = api.worker.post(
            url(running_job, "complete"), {"lease_id": str(running_job.lease_id), "result": 1}
        )
    conflict(r, "LEASE_EXPIRED")
    assert snapshot(running_job) == before


def test_complete_after_the_sweeper_failed_a_timed_out_run_answers_lease_expired(api, running_job):
    with later_than(running_job.lease_expires_at):
        assert lifecycle.expire_overdue()["execution_timeout"] == 1
        r = api.worker.post(url(running_job, "complete"), {"lease_id": str(running_job.lease_id)})
    conflict(r, "LEASE_EXPIRED")
    row = Job.objects.get(pk=running_job.pk)
    assert (row.status, row.retry_count, row.last_error) == ("pending", 1, "timeout")


def test_replayed_complete_answers_already_completed(api, running_job):
    lease = str(running_job.lease_id)
    done = api.worker.post(url(running_job, "complete"), {"lease_id": lease, "result": {"n": 1}})
    assert done.status_code == 200
    r = api.worker.post(url(running_job, "complete"), {"lease_id": lease, "result": {"n": 2}})
    assert "already completed" in conflict(r, "INVALID_STATE")["message"]
    assert Job.objects.get(pk=running_job.pk).result == {"n": 1}
    assert JobEvent.objects.filter(job=running_job, type="job.completed").count() == 1


@pytest.mark.parametrize(
    ("holder", "who", "method", "action", "body"),
    [
        ("delivered_job", "worker", "post", "complete", {}),
        ("delivered_job", "worker", "post", "progress", {"percent": 1, "message": "x"}),
        ("running_job", "worker", "post", "ack", {}),
        ("pending_job", "worker", "post", "ack", {}),
        ("scheduled_job", "worker", "post", "claim", {}),
        ("running_job", "operator", "post", "cancel", {}),
        ("running_job", "operator", "delete", "", {}),
        ("delivered_job", "operator", "post", "cancel", {}),
        ("completed_job", "operator", "post", "retry", {}),
        ("pending_job", "operator", "post", "retry", {}),
        ("completed_job", "operator", "post", "kill", {}),
        ("completed_job", "operator", "put", "priority", {"priority": 5}),
    ],
)
def test_illegal_transition_answers_invalid_state(api, request, holder, who, method, action, body):
    job = request.getfixturevalue(holder)
    before = snapshot(job)
    lease = {"lease_id": str(job.lease_id)} if job.lease_id else {}
    r = getattr(getattr(api, who), method)(url(job, action), {**lease, **body})
    conflict(r, "INVALID_STATE")
    assert snapshot(job) == before


@pytest.mark.parametrize(
    ("method", "action"),
    [
        ("get", ""),
        ("get", "events"),
        ("post", "ack"),
        ("post", "complete"),
        ("post", "claim"),
        ("post", "kill"),
        ("post", "retry"),
        ("post", "cancel"),
        ("delete", ""),
        ("put", "priority"),
    ],
)
def test_another_spaces_token_gets_404_and_changes_nothing(api, running_job, method, action):
    before = snapshot(running_job)
    r = getattr(api.foreign, method)(url(running_job, action), {"priority": 1})
    assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")
    assert set(r.json()) == ERROR_KEYS
    assert snapshot(running_job) == before


def test_every_error_has_the_flat_body_and_every_answer_a_request_id(api, make_client, running_job):
    errors = {
        401: APIClient().get(url(running_job)),
        403: make_client("jobs:read").post(url(running_job, "kill")),
        404: api.foreign.get(url(running_job)),
        400: api.worker.post(url(running_job, "progress"), {"percent": 500, "message": ""}),
        409: api.worker.post(url(running_job, "ack")),
    }
    codes = {r.status_code: r.json()["code"] for r in errors.values()}
    assert codes == {
        401: "UNAUTHENTICATED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        400: "VALIDATION_ERROR",
        409: "INVALID_STATE",
    }
    for r in errors.values():
        assert set(r.json()) == ERROR_KEYS
        assert isinstance(r.json()["message"], str)
        assert r["Content-Type"].startswith("application/json")
        assert r["X-Request-Id"]
    assert errors[403].json()["details"]["required_scope"] == "jobs:kill"
    assert {"percent", "message"} <= set(errors[400].json()["details"])
    pending = create_job(running_job.space)
    fine = [
        api.producer.post(JOBS, {"name": "x"}),
        api.producer.get(url(running_job)),
        api.operator.delete(url(pending)),
    ]
    assert [r.status_code for r in fine] == [201, 200, 204]
    assert all(r["X-Request-Id"] for r in fine)
    echoed = api.producer.get(url(running_job), HTTP_X_REQUEST_ID="trace-42")
    assert echoed["X-Request-Id"] == "trace-42"


def test_a_bad_body_for_an_unknown_or_foreign_job_answers_404_first(api, space, other_space):
    from tests.conftest import create_job as make

    foreign = make(other_space)
    for job_id in (foreign.id, uuid.uuid4()):
        for route, body in (("ack", {"lease_id": 5}), ("progress", {}), ("events", {})):
            r = api.admin.post(f"/api/v1/jobs/{job_id}/{route}", body)
            assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND"), (route, r.content)

"""Every legal transition of the job state machine, driven through the REST API."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs import lifecycle
from jobs.models import Job, JobEvent
from tests.conftest import SYSTEM, create_job
from tests.factories import SpaceFactory

JOBS = "/api/v1/jobs"


def url(job: Job, action: str = "") -> str:
    return f"{JOBS}/{job.id}/{action}".rstrip("/")


def ok(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


def poll(client, space, **body):
    return ok(client.post(f"/api/v1/spaces/{space.id}/jobs/poll", body))["jobs"]


def types_of(job_id):
    events = JobEvent.objects.filter(job_id=job_id).order_by("id")
    return list(events.values_list("type", flat=True))


def frozen_later(seconds: float):
    return (timezone.now() + timedelta(seconds=seconds)).replace(microsecond=0)


def test_create_is_pending_with_a_created_event(api):
    body = ok(api.producer.post(JOBS, {"name": "resize", "payload": {"w": 10}}), 201)
    job = Job.objects.get(pk=body["id"])
    assert (body["created"], body["job"]["status"]) == (True, "pending")
    assert (job.status, job.payload, job.attempts, job.lease_id) == ("pending", {"w": 10}, 0, None)
    assert types_of(job.pk) == ["job.created"]


def test_future_job_is_scheduled_and_delivered_only_once_due(api, space):
    due = frozen_later(3600)
    body = ok(api.producer.post(JOBS, {"name": "report", "scheduled_for": due.isoformat()}), 201)
    assert body["job"]["status"] == "scheduled"
    assert parse_datetime(body["job"]["scheduled_for"]) == due
    assert poll(api.worker, space) == []
    assert Job.objects.get(pk=body["id"]).status == "scheduled"
    with time_machine.travel(due + timedelta(seconds=1), tick=False):
        (job,) = poll(api.worker, space)
    assert (job["id"], job["status"]) == (body["id"], "delivered")
    assert types_of(body["id"]) == ["job.created", "job.pending", "job.delivered"]


def test_poll_delivers_with_a_fresh_lease_and_the_delivery_deadline(api, space, pending_job):
    now = frozen_later(0)
    with time_machine.travel(now, tick=False):
        (body,) = poll(api.worker, space, limit=5, worker_id="w-9")
    job = Job.objects.get(pk=pending_job.pk)
    assert (body["id"], body["status"], job.status) == (str(job.id), "delivered", "delivered")
    assert job.lease_id is not None
    assert (body["lease_id"], body["worker_id"]) == (str(job.lease_id), "w-9")
    deadline = now + timedelta(seconds=space.delivery_timeout_seconds)
    assert parse_datetime(body["lease_expires_at"]) == job.lease_expires_at == deadline
    assert body["lease_expires_at"].endswith("Z")
    assert job.attempts == 0
    assert types_of(job.pk) == ["job.created", "job.delivered"]


def test_claim_by_id_delivers_then_answers_409_once_taken(api, pending_job):
    body = ok(api.worker.post(url(pending_job, "claim"), {"worker_id": "w-2"}))
    job = Job.objects.get(pk=pending_job.pk)
    assert body["success"] is True
    assert (body["job"]["status"], body["job"]["worker_id"]) == ("delivered", "w-2")
    assert body["job"]["lease_id"] == str(job.lease_id)
    r = api.worker.post(url(pending_job, "claim"), {"worker_id": "w-3"})
    assert (r.status_code, r.json()["code"]) == (409, "INVALID_STATE")
    assert Job.objects.get(pk=job.pk).worker_id == "w-2"


def test_claim_by_id_takes_over_an_expired_delivery(api, delivered_job):
    with time_machine.travel(delivered_job.lease_expires_at + timedelta(seconds=1), tick=False):
        body = ok(api.worker.post(url(delivered_job, "claim"), {"worker_id": "w-2"}))
    job = Job.objects.get(pk=delivered_job.pk)
    assert (body["job"]["status"], job.status, job.worker_id) == ("delivered", "delivered", "w-2")
    assert job.lease_id != delivered_job.lease_id


def test_ack_starts_the_attempt_and_its_execution_timeout(api, delivered_job):
    lease = str(delivered_job.lease_id)
    body = ok(api.worker.post(url(delivered_job, "ack"), {"lease_id": lease}))
    job = Job.objects.get(pk=delivered_job.pk)
    assert body["job"]["status"] == job.status == "running"
    assert body["job"]["attempts"] == job.attempts == 1
    assert parse_datetime(body["job"]["started_at"]) == job.started_at
    assert job.lease_expires_at == job.started_at + timedelta(seconds=job.timeout_seconds)
    assert types_of(job.pk)[-1] == "job.started"


def test_progress_is_stored_with_sub_progress_and_recorded(api, running_job):
    stages = {"download": 100, "resize": 20}
    body = ok(
        api.worker.post(
            url(running_job, "progress"),
            {
                "lease_id": str(running_job.lease_id),
                "percent": 40,
                "message": "resizing",
                "sub_progress": stages,
            },
        )
    )
    job = Job.objects.get(pk=running_job.pk)
    assert body["job"]["progress"] == {"percent": 40, "message": "resizing", "sub_progress": stages}
    assert (job.progress_percent, job.progress_message, job.sub_progress) == (
        40,
        "resizing",
        stages,
    )
    event = JobEvent.objects.filter(job=job).latest("id")
    assert event.type == "job.progress"
    assert event.data == {"percent": 40, "message": "resizing", "sub_progress": stages}


def test_checkpoint_is_stored_and_handed_to_the_next_attempt(api, space, running_job):
    lease = str(running_job.lease_id)
    body = ok(
        api.worker.post(url(running_job, "checkpoint"), {"lease_id": lease, "data": {"p": 7}})
    )
    assert body["job"]["checkpoint"] == Job.objects.get(pk=running_job.pk).checkpoint == {"p": 7}
    assert types_of(running_job.pk)[-1] == "job.checkpoint"
    ok(api.worker.post(url(running_job, "fail"), {"lease_id": lease, "error": "crash"}))
    (again,) = poll(api.worker, space)
    assert (again["id"], again["checkpoint"]) == (str(running_job.id), {"p": 7})


def test_custom_event_answers_the_recorded_event(api, running_job):
    body = ok(
        api.worker.post(
            url(running_job, "events"),
            {"lease_id": str(running_job.lease_id), "type": "page.done", "data": {"page": 3}},
        )
    )
    event = JobEvent.objects.get(pk=body["event"]["seq"])
    assert body["success"] is True
    assert (event.job_id, event.type) == (running_job.id, "job.event")
    assert (body["event"]["job_id"], body["event"]["event_type"]) == (
        str(running_job.id),
        "job.event",
    )
    assert body["event"]["details"] == event.data == {"type": "page.done", "data": {"page": 3}}


@pytest.mark.parametrize(
    ("route", "extra", "window"),
    [
        ("keepalive", {}, None),
        ("heartbeat", {}, None),
        ("heartbeat", {"lease_duration_secs": 900}, 900),
    ],
)
def test_keepalive_and_heartbeat_restart_the_timeout_window(api, running_job, route, extra, window):
    later = frozen_later(60)
    with time_machine.travel(later, tick=False):
        body = ok(
            api.worker.post(
                url(running_job, route), {"lease_id": str(running_job.lease_id), **extra}
            )
        )
    job = Job.objects.get(pk=running_job.pk)
    assert job.lease_expires_at == later + timedelta(seconds=window or job.timeout_seconds)
    assert job.lease_expires_at > running_job.lease_expires_at
    assert parse_datetime(body["job"]["lease_expires_at"]) == job.lease_expires_at
    assert (job.status, types_of(job.pk)[-1]) == ("running", "job.keepalive")


def test_complete_stores_the_result(api, running_job):
    body = ok(
        api.worker.post(
            url(running_job, "complete"),
            {"lease_id": str(running_job.lease_id), "result": {"url": "s3://out"}},
        )
    )
    job = Job.objects.get(pk=running_job.pk)
    assert body["job"]["status"] == job.status == "completed"
    assert body["job"]["result"] == job.result == {"url": "s3://out"}
    assert job.completed_at is not None
    assert job.lease_expires_at is None
    assert types_of(job.pk)[-1] == "job.completed"


def test_fail_with_retries_left_requeues_the_job(api, running_job):
    lease = str(running_job.lease_id)
    body = ok(api.worker.post(url(running_job, "fail"), {"lease_id": lease, "error": "smtp down"}))
    job = Job.objects.get(pk=running_job.pk)
    assert body["job"]["status"] == job.status == "pending"  # the space's backoff is 0
    assert (body["job"]["retry_count"], body["job"]["last_error"]) == (1, "smtp down")
    assert (job.retry_count, job.last_error, job.lease_id, job.worker_id) == (
        1,
        "smtp down",
        None,
        "",
    )
    failed, retrying = JobEvent.objects.filter(job=job).order_by("-id")[:2][::-1]
    assert (failed.type, retrying.type) == ("job.failed", "job.retrying")
    assert (failed.data["error"], failed.data["will_retry"]) == ("smtp down", True)
    assert retrying.data["retry_count"] == 1


def test_failed_job_waits_out_its_backoff_as_scheduled(org, make_client):
    slow = SpaceFactory(organization=org, backoff_base_seconds=60, backoff_cap_seconds=60)
    worker = make_client("jobs:worker", space=slow)
    job = create_job(slow)
    with time_machine.travel(frozen_later(0), tick=False):
        (polled,) = poll(worker, slow)
        ok(worker.post(url(job, "ack"), {"lease_id": polled["lease_id"]}))
        body = ok(worker.post(url(job, "fail"), {"lease_id": polled["lease_id"], "error": "x"}))
        assert body["job"]["status"] == "scheduled"
        assert poll(worker, slow) == []
    row = Job.objects.get(pk=job.pk)
    assert (row.status, row.retry_count) == ("scheduled", 1)
    with time_machine.travel(row.run_at + timedelta(seconds=1), tick=False):
        (again,) = poll(worker, slow)
    assert (again["id"], again["status"], again["retry_count"]) == (str(job.id), "delivered", 1)


@pytest.mark.parametrize("max_retries", [0, 2])
def test_fail_retries_max_retries_times_then_the_job_is_dead(api, space, max_retries):
    job = create_job(space, max_retries=max_retries)
    for attempt in range(1, max_retries + 2):
        (polled,) = poll(api.worker, space)
        ok(api.worker.post(url(job, "ack"), {"lease_id": polled["lease_id"]}))
        r = api.worker.post(
            url(job, "fail"), {"lease_id": polled["lease_id"], "error": f"e{attempt}"}
        )
        row = Job.objects.get(pk=job.pk)
        last = attempt == max_retries + 1
        assert ok(r)["job"]["status"] == row.status == ("dead" if last else "pending")
        assert (row.attempts, row.last_error) == (attempt, f"e{attempt}")
        assert types_of(job.pk)[-2:] == ["job.failed", "job.dead" if last else "job.retrying"]
    assert row.retry_count == max_retries
    assert poll(api.worker, space) == []


def test_claim_by_id_takes_a_scheduled_job_once_due(api, space):
    due = frozen_later(600)
    job = create_job(space, scheduled_for=due)
    with time_machine.travel(due + timedelta(seconds=1), tick=False):
        body = ok(api.worker.post(url(job, "claim"), {"worker_id": "w-2"}))
    assert body["job"]["status"] == Job.objects.get(pk=job.pk).status == "delivered"


def test_fail_without_retry_is_dead_at_once(api, running_job):
    body = ok(
        api.worker.post(
            url(running_job, "fail"),
            {"lease_id": str(running_job.lease_id), "error": "invalid input", "retry": False},
        )
    )
    job = Job.objects.get(pk=running_job.pk)
    assert running_job.max_retries > 0
    assert body["job"]["status"] == job.status == "dead"
    assert (job.retry_count, job.last_error) == (0, "invalid input")
    assert types_of(job.pk)[-2:] == ["job.failed", "job.dead"]


@pytest.mark.parametrize("state", ["scheduled", "pending", "delivered", "running"])
def test_kill_stops_a_job_in_any_live_state(api, space, request, state):
    if state == "scheduled":
        job = create_job(space, scheduled_for=timezone.now() + timedelta(hours=1))
    else:
        job = request.getfixturevalue(f"{state}_job")
    body = ok(api.operator.post(url(job, "kill")))
    row = Job.objects.get(pk=job.pk)
    assert (body["success"], body["job"]["status"], row.status) == (True, "killed", "killed")
    assert row.lease_expires_at is None
    assert types_of(job.pk)[-1] == "job.killed"


@pytest.mark.parametrize("end", ["dead", "killed", "cancelled"])
def test_retry_brings_a_finished_job_back_to_pending(api, space, running_job, end):
    lease = str(running_job.lease_id)
    job = lifecycle.fail(running_job, error="first", actor=SYSTEM, lease_id=lease)
    if end == "dead":
        (job,) = lifecycle.poll(space, limit=1, actor=SYSTEM)
        job = lifecycle.ack(job, actor=SYSTEM)
        job = lifecycle.fail(job, error="second", retry=False, actor=SYSTEM)
    elif end == "killed":
        job = lifecycle.kill(job, actor=SYSTEM)
    else:
        job = lifecycle.cancel(job, actor=SYSTEM)
    assert (job.status, job.retry_count) == (end, 1)
    body = ok(api.operator.post(url(job, "retry")))
    row = Job.objects.get(pk=job.pk)
    assert (body["status"], body["retry_count"], body["attempts"]) == ("pending", 0, 0)
    assert (row.status, row.retry_count, row.attempts, row.last_error) == ("pending", 0, 0, "")
    assert types_of(job.pk)[-1] == "job.pending"
    (again,) = poll(api.worker, space)
    assert again["id"] == str(job.id)


@pytest.mark.parametrize("scheduled", [False, True])
@pytest.mark.parametrize("how", ["post", "delete"])
def test_cancel_withdraws_a_job_not_yet_started(api, space, scheduled, how):
    later = {"scheduled_for": timezone.now() + timedelta(hours=1)} if scheduled else {}
    job = create_job(space, **later)
    if how == "post":
        body = ok(api.operator.post(url(job, "cancel")))
        assert (body["success"], body["job"]["status"]) == (True, "cancelled")
    else:
        r = api.operator.delete(url(job))
        assert (r.status_code, r.content) == (204, b"")
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    assert types_of(job.pk)[-1] == "job.cancelled"
    assert poll(api.worker, space) == []


def test_priority_change_answers_old_and_new_and_reorders_the_queue(api, space):
    first = create_job(space, "a")
    second = create_job(space, "b")
    body = ok(api.operator.put(url(second, "priority"), {"priority": 50}))
    assert body == {"job_id": str(second.id), "old_priority": 0, "new_priority": 50}
    assert Job.objects.get(pk=second.pk).priority == 50
    assert [j["id"] for j in poll(api.worker, space, limit=2)] == [str(second.id), str(first.id)]


def test_spooled_claim_runs_the_job_at_once(api, pending_job):
    now = frozen_later(0)
    with time_machine.travel(now, tick=False):
        body = ok(
            api.worker.post(
                f"{JOBS}/claim",
                {"queue_name": "work", "worker_id": "w-s", "lease_duration_secs": 60},
            )
        )
    (claimed,) = body["jobs"]
    job = Job.objects.get(pk=pending_job.pk)
    assert claimed["status"] == job.status == "running"
    assert job.lease_id is not None
    assert claimed["lease_id"] == str(job.lease_id)
    assert (job.attempts, job.worker_id, job.started_at) == (1, "w-s", now)
    assert job.lease_expires_at == now + timedelta(seconds=60)
    assert types_of(job.pk) == ["job.created", "job.started"]
    done = ok(api.worker.post(url(job, "complete"), {"lease_id": claimed["lease_id"]}))
    assert done["job"]["status"] == "completed"


def test_history_lists_the_jobs_events_in_order_and_pages(api, space, running_job):
    lease = str(running_job.lease_id)
    create_job(space, "other")
    ok(
        api.worker.post(
            url(running_job, "progress"), {"lease_id": lease, "percent": 50, "message": "m"}
        )
    )
    ok(api.worker.post(url(running_job, "complete"), {"lease_id": lease}))
    body = ok(api.producer.get(url(running_job, "events")))
    kinds = ["job.created", "job.delivered", "job.started", "job.progress", "job.completed"]
    assert [e["event_type"] for e in body] == kinds
    assert {e["job_id"] for e in body} == {str(running_job.id)}
    assert set(body[0]) >= {
        "id",
        "job_id",
        "seq",
        "event_type",
        "details",
        "worker_id",
        "created_at",
    }
    seqs = [e["seq"] for e in body]
    assert seqs == sorted(set(seqs))
    first = api.producer.get(url(running_job, "events"), {"limit": 2})
    assert ([e["seq"] for e in first.json()], first["X-Has-More"]) == (seqs[:2], "true")
    last = api.producer.get(url(running_job, "events"), {"limit": 2, "offset": 3})
    assert ([e["seq"] for e in last.json()], last["X-Has-More"]) == (seqs[3:], "false")
    desc = ok(api.producer.get(url(running_job, "history"), {"order_dir": "desc"}))
    assert [e["seq"] for e in desc] == seqs[::-1]
    assert ok(api.producer.get(url(running_job, "history"))) == body

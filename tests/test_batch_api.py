"""Batch ack and complete: many jobs per call, one transaction, per-item answers."""

import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import lifecycle
from jobs.models import Job, JobEvent
from notifications.models import Delivery
from tests.conftest import SYSTEM, create_job


def base(space) -> str:
    return f"/api/v1/spaces/{space.id}/jobs"


def ok(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


def delivered(space, n: int, **fields) -> list[Job]:
    for i in range(n):
        create_job(space, payload={"i": i}, **fields)
    return lifecycle.poll(space, limit=n, worker_id="w-1", actor=SYSTEM)


def running(space, n: int, **fields) -> list[Job]:
    jobs = delivered(space, n, **fields)
    return [lifecycle.ack(j, actor=SYSTEM, lease_id=str(j.lease_id)) for j in jobs]


def items(jobs, **extra):
    return [{"id": str(j.id), "lease_id": str(j.lease_id), **extra} for j in jobs]


def types_of(job):
    return list(JobEvent.objects.filter(job=job).order_by("id").values_list("type", flat=True))


def test_batch_ack_starts_every_job_with_one_event_each(api, space):
    jobs = delivered(space, 3)
    body = ok(api.worker.post(f"{base(space)}/ack", {"jobs": items(jobs)}))
    assert (body["total"], body["success_count"], body["failure_count"]) == (3, 3, 0)
    assert [s["index"] for s in body["succeeded"]] == [0, 1, 2]
    assert {s["status"] for s in body["succeeded"]} == {"running"}
    for job in jobs:
        job.refresh_from_db()
        assert (job.status, job.attempts, job.worker_id) == ("running", 1, "w-1")
        assert job.started_at is not None
        assert job.lease_expires_at > job.started_at
        assert types_of(job) == ["job.created", "job.delivered", "job.started"]


def test_batch_complete_stores_each_result(api, space):
    jobs = running(space, 2)
    body = {"jobs": [{**items([j])[0], "result": {"n": i}} for i, j in enumerate(jobs)]}
    answer = ok(api.worker.post(f"{base(space)}/complete", body))
    assert answer["success_count"] == 2
    for i, job in enumerate(jobs):
        job.refresh_from_db()
        assert (job.status, job.result, job.lease_expires_at) == ("completed", {"n": i}, None)
        assert types_of(job)[-1] == "job.completed"


def test_a_bare_list_body_is_accepted(api, space):
    jobs = running(space, 1)
    assert ok(api.worker.post(f"{base(space)}/complete", items(jobs)))["success_count"] == 1


def test_refused_items_change_nothing_while_the_others_commit(api, space, other_space):
    good, stale, killed = running(space, 3)
    lifecycle.kill(killed, actor=SYSTEM)
    foreign = running(other_space, 1)[0]
    body = {
        "jobs": [
            *items([good]),
            {"id": str(stale.id), "lease_id": str(uuid.uuid4())},
            *items([killed]),
            *items([foreign]),
            {"id": "not-a-uuid"},
        ]
    }
    answer = ok(api.worker.post(f"{base(space)}/complete", body))
    assert [s["id"] for s in answer["succeeded"]] == [str(good.id)]
    codes = [(f["index"], f["error"]["code"]) for f in answer["failed"]]
    assert codes == [
        (1, "LEASE_EXPIRED"),
        (2, "JOB_KILLED"),
        (3, "NOT_FOUND"),
        (4, "VALIDATION_ERROR"),
    ]
    statuses = dict(Job.objects.values_list("id", "status"))
    assert statuses[good.id] == "completed"
    assert (statuses[stale.id], statuses[killed.id], statuses[foreign.id]) == (
        "running",
        "killed",
        "running",
    )
    assert types_of(stale)[-1] == "job.started"


def test_ack_of_a_job_not_delivered_is_an_invalid_state(api, space):
    (job,) = running(space, 1)
    answer = ok(api.worker.post(f"{base(space)}/ack", {"jobs": items([job])}))
    assert answer["failed"][0]["error"]["code"] == "INVALID_STATE"
    assert types_of(job).count("job.started") == 1


def test_a_job_listed_twice_is_taken_once(api, space):
    (job,) = running(space, 1)
    answer = ok(api.worker.post(f"{base(space)}/complete", {"jobs": items([job, job])}))
    assert (answer["success_count"], answer["failed"][0]["error"]["code"]) == (1, "INVALID_STATE")
    assert types_of(job).count("job.completed") == 1


def test_completion_callbacks_are_queued_in_the_same_transaction(api, space):
    jobs = running(space, 2, callback_url="https://hooks.example.com/done")
    ok(api.worker.post(f"{base(space)}/complete", {"jobs": items(jobs)}))
    assert Delivery.objects.filter(kind="callback").count() == 2


def test_bad_bodies_answer_400_and_change_nothing(api, space):
    (job,) = running(space, 1)
    for body in ({}, {"jobs": []}, {"jobs": "x"}, {"jobs": items([job]) * 51 + items([job]) * 50}):
        r = api.worker.post(f"{base(space)}/complete", body)
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
    job.refresh_from_db()
    assert job.status == "running"


def test_scopes_and_tenancy(api, make_client, space, other_space):
    (job,) = running(space, 1)
    body = {"jobs": items([job])}
    r = make_client("jobs:ack").post(f"{base(space)}/complete", body)
    assert (r.status_code, r.json()["code"]) == (403, "FORBIDDEN")
    r = api.worker.post(f"{base(other_space)}/complete", body)
    assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")
    r = api.foreign.post(f"{base(other_space)}/complete", body)
    assert ok(r)["failed"][0]["error"]["code"] == "NOT_FOUND"
    job.refresh_from_db()
    assert job.status == "running"


def test_batch_complete_query_count_does_not_grow_with_the_batch(api, space):
    def queries_for(n: int) -> int:
        jobs = running(space, n)
        with CaptureQueriesContext(connection) as ctx:
            ok(api.worker.post(f"{base(space)}/complete", {"jobs": items(jobs)}))
        return len(ctx.captured_queries)

    queries_for(1)  # the token's first use records last_used_at once
    assert queries_for(2) == queries_for(20) <= 8


def test_a_single_complete_reads_once_and_writes_twice(api, space):
    """The row lock is the only read: the view does not fetch the job beforehand."""
    jobs = running(space, 2)
    ok(api.worker.post(f"/api/v1/jobs/{jobs[0].id}/complete", items(jobs[:1])[0]))
    with CaptureQueriesContext(connection) as ctx:  # the token is cached by now
        ok(api.worker.post(f"/api/v1/jobs/{jobs[1].id}/complete", items(jobs[1:])[0]))
    sqls = [q["sql"] for q in ctx.captured_queries]
    sqls = [s for s in sqls if s.split()[0] not in ("SAVEPOINT", "RELEASE")]
    assert [s.split()[0] for s in sqls] == ["SELECT", "UPDATE", "INSERT"]
    assert sqls[0].endswith("FOR UPDATE")


def test_the_shared_job_renderer_answers_what_the_serializer_does(api, space):
    from jobs.api.serializers import JobOut, job_data

    (pending,) = [create_job(space, payload={"a": [1]}, tags=["x"], priority=5)]
    (run,) = running(space, 1)
    lifecycle.progress(run, percent=50, message="half", actor=SYSTEM, lease_id=str(run.lease_id))
    for job in Job.objects.select_related("space").filter(pk__in=[pending.pk, run.pk]):
        assert job_data(job) == dict(JobOut(job).data)


def test_bad_items_get_the_messages_a_serializer_per_item_would_give(api, space):
    from jobs.api.batch import _flatten
    from jobs.api.serializers import BatchItemInput

    bad = [
        [],
        "x",
        {},
        {"id": "not-a-uuid"},
        {"id": str(uuid.uuid4()), "lease_id": "x" * 101},
        {"id": str(uuid.uuid4()), "job_id": str(uuid.uuid4())},
        {"id": str(uuid.uuid4()), "worker_id": 5},
    ]
    expected = []
    for raw in bad:
        fresh = BatchItemInput(data=raw)
        assert not fresh.is_valid()
        expected.append(_flatten(fresh.errors))
    body = ok(api.worker.post(f"{base(space)}/complete", {"jobs": bad}))
    assert body["success_count"] == 0
    assert [f["error"]["message"] for f in body["failed"]] == expected
    assert all(f["error"]["code"] == "VALIDATION_ERROR" for f in body["failed"])


def test_a_poll_of_an_empty_queue_is_one_read_and_no_transaction(api, space):
    ok(api.worker.post(f"{base(space)}/poll", {"limit": 10}))  # the token is cached by now
    with CaptureQueriesContext(connection) as ctx:
        assert ok(api.worker.post(f"{base(space)}/poll", {"limit": 10}))["jobs"] == []
    sqls = [q["sql"] for q in ctx.captured_queries]
    assert len(sqls) == 1
    assert sqls[0].startswith("SELECT COALESCE")  # the space check (claim.py _space_state)
    create_job(space, name="other")
    with CaptureQueriesContext(connection) as ctx:  # a job of another queue: still one read
        body = {"limit": 10, "names": ["mine"]}
        assert ok(api.worker.post(f"{base(space)}/poll", body))["jobs"] == []
    assert len(ctx.captured_queries) == 1

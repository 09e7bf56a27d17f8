from datetime import timedelta

import time_machine
from django.utils import timezone

from jobs import lifecycle, queues
from jobs.models import Job, Status
from tests.conftest import SYSTEM, create_job


def poll(api, space, **body):
    r = api.worker.post(f"/api/v1/spaces/{space.id}/jobs/poll", body)
    assert r.status_code == 200, r.content
    return r.json()["jobs"]


def test_same_idempotency_key_returns_the_same_job_even_after_it_completed(api, space):
    body = {"name": "charge", "payload": {"order": 7}, "idempotency_key": "order-7"}
    first = api.producer.post("/api/v1/jobs", body)
    assert (first.status_code, first.json()["created"]) == (201, True)
    (job,) = poll(api, space)
    url = f"/api/v1/jobs/{job['id']}"
    api.worker.post(f"{url}/ack", {"lease_id": job["lease_id"]})
    api.worker.post(f"{url}/complete", {"lease_id": job["lease_id"]})
    again = api.producer.post("/api/v1/jobs", body)
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["job"]["status"] == "completed"
    assert Job.objects.filter(space=space).count() == 1


def test_idempotency_keys_are_per_space(api, space, other_space):
    body = {"name": "charge", "idempotency_key": "k"}
    a = api.producer.post("/api/v1/jobs", body).json()
    b = api.foreign.post("/api/v1/jobs", body).json()
    assert a["id"] != b["id"]
    assert b["created"] is True


def test_bulk_twins_share_one_job(api, space):
    r = api.producer.post(
        "/api/v1/jobs/bulk",
        {
            "queue_name": "q",
            "jobs": [
                {"payload": 1, "idempotency_key": "same"},
                {"payload": 2, "idempotency_key": "same"},
                {"payload": 3},
            ],
        },
    )
    ok = r.json()["succeeded"]
    assert [s["created"] for s in ok] == [True, False, True]
    assert ok[0]["job_id"] == ok[1]["job_id"]
    assert Job.objects.filter(space=space).count() == 2


def test_scheduled_job_is_not_claimable_before_its_time(api, space):
    at = timezone.now() + timedelta(minutes=10)
    r = api.producer.post("/api/v1/jobs", {"name": "later", "scheduledFor": at.isoformat()})
    assert r.json()["job"]["status"] == "scheduled"
    assert poll(api, space) == []
    with time_machine.travel(at + timedelta(seconds=1)):
        (job,) = poll(api, space)
    assert job["id"] == r.json()["id"]
    assert job["status"] == "delivered"


def test_past_scheduled_for_is_pending_at_once(api, space):
    at = timezone.now() - timedelta(minutes=1)
    r = api.producer.post("/api/v1/jobs", {"name": "now", "scheduled_at": at.isoformat()})
    assert r.json()["job"]["status"] == "pending"


def test_priority_then_age_order(api, space):
    low = create_job(space, "w", priority=-5)
    old = create_job(space, "w", priority=10)
    new = create_job(space, "w", priority=10)
    mid = create_job(space, "w")
    got = [j["id"] for j in poll(api, space, limit=4)]
    assert got == [str(old.id), str(new.id), str(mid.id), str(low.id)]


def test_names_filter(api, space):
    create_job(space, "email")
    report = create_job(space, "report")
    assert [j["id"] for j in poll(api, space, names=["report", "nothing"])] == [str(report.id)]


def test_paused_queue_hands_out_nothing_until_resumed(api, space):
    job = create_job(space, "email")
    r = api.admin.post("/api/v1/queues/email/pause", {"reason": "maintenance"})
    assert r.json()["paused"] is True
    assert poll(api, space) == []
    assert poll(api, space, names=["email"]) == []
    claim = api.worker.post("/api/v1/jobs/claim", {"queue_name": "email", "worker_id": "w"})
    assert claim.json() == {"jobs": []}
    r = api.worker.post(f"/api/v1/jobs/{job.id}/claim", {})
    assert (r.status_code, r.json()["code"]) == (409, "INVALID_STATE")
    resumed = api.admin.post("/api/v1/queues/email/resume")
    assert resumed.json()["resumed"] is True
    assert [j["id"] for j in poll(api, space)] == [str(job.id)]


def test_pausing_one_space_leaves_another_alone(api, space, other_space):
    queues.pause(space, "email")
    foreign = create_job(other_space, "email")
    got = lifecycle.poll(other_space, limit=5, actor=SYSTEM)
    assert [j.id for j in got] == [foreign.id]


def test_dead_letter_list_retry_and_purge(api, space):
    dead = []
    for i in range(3):
        job = create_job(space, "dlq" if i < 2 else "other", max_retries=0)
        (d,) = lifecycle.poll(space, limit=1, actor=SYSTEM)
        dead.append(lifecycle.fail(lifecycle.ack(d, actor=SYSTEM), error="x", actor=SYSTEM))
        assert dead[-1].id == job.id
    listed = api.operator.get("/api/v1/jobs/dlq", {"queue_name": "dlq"}).json()
    assert {row["id"] for row in listed} == {str(dead[0].id), str(dead[1].id)}
    assert all(row["status"] == "dead" for row in listed)
    r = api.operator.post("/api/v1/jobs/dlq/retry", {"job_ids": [str(dead[0].id), str(dead[2].id)]})
    assert r.json()["retried_count"] == 2
    stale = api.operator.post("/api/v1/jobs/dlq/retry", {"job_ids": [str(dead[0].id)]}).json()
    assert stale["retried_count"] == 0
    assert stale["skipped_jobs"] == [str(dead[0].id)]
    refused = api.operator.post("/api/v1/jobs/dlq/purge", {"confirm": False})
    assert refused.status_code == 400
    purged = api.operator.post("/api/v1/jobs/dlq/purge", {"confirm": True}).json()
    assert purged == {"purged_count": 1}
    assert not Job.objects.filter(pk=dead[1].id).exists()
    assert Job.objects.get(pk=dead[0].id).status == Status.PENDING

from datetime import timedelta

import time_machine
from django.utils import timezone

from jobs import lifecycle
from jobs.models import Job, Queue
from tests.conftest import SYSTEM, create_job


def test_queues_exist_once_a_job_names_them(api, space):
    assert api.admin.get("/api/v1/queues").json() == []
    create_job(space, "email")
    (row,) = api.admin.get("/api/v1/queues").json()
    assert row == {
        "queue_name": "email",
        "max_retries": 3,
        "default_timeout": 300,
        "enabled": True,
        "rate_limit": None,
        "paused": False,
    }
    assert api.admin.get("/api/v1/queues/nothing").status_code == 404


def test_config_sets_the_defaults_of_new_jobs(api, space):
    r = api.admin.put("/api/v1/queues/reports/config", {"max_retries": 7, "default_timeout": 60})
    assert r.status_code == 200
    assert (r.json()["max_retries"], r.json()["default_timeout"]) == (7, 60)
    made = api.producer.post("/api/v1/jobs", {"name": "reports"}).json()["job"]
    assert (made["max_retries"], made["timeout_seconds"]) == (7, 60)
    own = api.producer.post("/api/v1/jobs", {"name": "reports", "max_retries": 1}).json()["job"]
    assert own["max_retries"] == 1


def test_config_enabled_false_pauses_and_rate_limits_are_refused(api, space):
    job = create_job(space, "email")
    assert api.admin.put("/api/v1/queues/email/config", {"enabled": False}).json()["paused"]
    assert lifecycle.poll(space, limit=5, actor=SYSTEM) == []
    assert api.admin.put("/api/v1/queues/email/config", {"enabled": True}).json()["enabled"]
    assert [j.id for j in lifecycle.poll(space, limit=5, actor=SYSTEM)] == [job.id]
    r = api.admin.put("/api/v1/queues/email/config", {"rate_limit": 10})
    assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
    assert "rate_limit" in r.json()["details"]


def test_queue_stats(api, space):
    create_job(space, "email")
    done = create_job(space, "email")
    create_job(space, "other")
    (d,) = lifecycle.poll(space, limit=1, names=["email"], actor=SYSTEM)
    (d2,) = lifecycle.poll(space, limit=1, names=["email"], actor=SYSTEM)
    assert done.id in (d.id, d2.id)
    lifecycle.complete(lifecycle.ack(d, actor=SYSTEM), result=None, actor=SYSTEM)
    stats = api.admin.get("/api/v1/queues/email/stats").json()
    assert stats["pending_jobs"] == 0
    assert stats["processing_jobs"] == 1
    assert stats["completed_jobs_24h"] == 1
    assert stats["failed_jobs_24h"] == 0
    assert stats["avg_processing_time_ms"] >= 0


def test_delete_is_refused_while_jobs_are_unfinished_unless_asked(api, space):
    job = create_job(space, "email")
    r = api.admin.delete("/api/v1/queues/email")
    assert (r.status_code, r.json()["code"]) == (409, "CONFLICT")
    assert Job.objects.filter(pk=job.pk).exists()
    assert api.admin.delete("/api/v1/queues/email?delete_jobs=true").status_code == 204
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not Queue.objects.filter(space=space, name="email").exists()
    assert api.admin.delete("/api/v1/queues/email").status_code == 404


def test_worker_register_heartbeat_silence_and_deregister(api, space):
    body = {
        "queue_name": "email",
        "hostname": "h1",
        "worker_id": "w-1",
        "max_concurrency": 4,
        "worker_type": "python",
        "version": "1.6.0",
        "metadata": {"pid": 1},
    }
    reg = api.worker.post("/api/v1/workers/register", body).json()
    assert reg["id"] == "w-1"
    assert reg["heartbeat_interval_secs"] > 0
    assert Queue.objects.filter(space=space, name="email").exists()
    hb = api.worker.post("/api/v1/workers/w-1/heartbeat", {"current_jobs": 2, "status": "healthy"})
    assert hb.json()["current_jobs"] == 2
    (row,) = api.worker.get("/api/v1/workers").json()
    assert (row["id"], row["status"], row["max_concurrency"]) == ("w-1", "healthy", 4)
    later = timezone.now() + timedelta(seconds=3 * reg["heartbeat_interval_secs"])
    with time_machine.travel(later):
        assert api.worker.get("/api/v1/workers/w-1").json()["status"] == "offline"
        assert api.admin.get("/api/v1/queues/email/stats").json()["active_workers"] == 0
    assert api.admin.get("/api/v1/queues/email/stats").json()["active_workers"] == 1
    api.worker.post("/api/v1/workers/w-1/deregister")
    assert api.worker.get("/api/v1/workers/w-1").json()["status"] == "offline"


def test_registering_twice_updates_one_worker_and_ids_are_per_space(api, space):
    api.worker.post("/api/v1/workers/register", {"queue_name": "a", "worker_id": "w"})
    api.worker.post("/api/v1/workers/register", {"queue_name": "b", "worker_id": "w"})
    assert [w["queue_name"] for w in api.worker.get("/api/v1/workers").json()] == ["b"]
    assert api.foreign.get("/api/v1/workers/w").status_code == 404
    assert api.foreign.post("/api/v1/workers/w/heartbeat", {}).status_code == 404
    minted = api.worker.post("/api/v1/workers/register", {"queue_name": "a"}).json()["id"]
    assert api.worker.get(f"/api/v1/workers/{minted}").status_code == 200


def test_bad_worker_input(api):
    r = api.worker.post("/api/v1/workers/register", {"queue_name": "a", "worker_id": "bad id!"})
    assert r.status_code == 400
    assert "worker_id" in r.json()["details"]
    r = api.worker.post("/api/v1/workers/register", {"queue_name": "a", "max_concurrency": 0})
    assert "max_concurrency" in r.json()["details"]

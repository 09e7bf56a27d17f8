"""The compiled answers (emitrun/representation.py) are exactly DRF's, job by job."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework import serializers

from emitrun.representation import compile_representation, represent_all
from jobs import lifecycle
from jobs.api.serializers import EventOut, JobOut, JobSummaryOut, job_data
from jobs.models import Job, JobEvent
from tests.conftest import SYSTEM, create_job


def drf(serializer_cls: type[serializers.Serializer], instance: object) -> dict:
    return dict(serializer_cls(instance).data)


@pytest.fixture
def jobs_in_every_shape(space) -> list[Job]:
    """Fresh, with tags and a schedule, delivered, running with progress and a
    checkpoint, completed with a result, and failed with an error.
    """
    later = timezone.now() + timedelta(hours=1)
    plain = create_job(space)
    tagged = create_job(
        space, "mail", payload={"to": "a@example.com"}, tags=["x", "y"], scheduled_for=later,
        priority=5, idempotency_key="k-1", callback_url="https://example.com/hook",
    )  # fmt: skip
    create_job(space, "run", payload=[1, 2])
    (delivered,) = lifecycle.poll(space, limit=1, names=["run"], worker_id="w-1", actor=SYSTEM)
    create_job(space, "progress")
    (running,) = lifecycle.poll(space, limit=1, names=["progress"], worker_id="w-2", actor=SYSTEM)
    running = lifecycle.ack(running, actor=SYSTEM, lease_id=str(running.lease_id))
    running = lifecycle.progress(
        running, percent=40.5, message="halfway", actor=SYSTEM, sub_progress={"a": 0.5}
    )
    running = lifecycle.checkpoint(running, data={"cursor": 7}, size=20, actor=SYSTEM)
    create_job(space, "done")
    (done,) = lifecycle.poll(space, limit=1, names=["done"], worker_id="w-3", actor=SYSTEM)
    done = lifecycle.ack(done, actor=SYSTEM, lease_id=str(done.lease_id))
    done = lifecycle.complete(done, result={"ok": True, "n": None}, actor=SYSTEM)
    create_job(space, "bad", max_retries=0)
    (bad,) = lifecycle.poll(space, limit=1, names=["bad"], worker_id="w-4", actor=SYSTEM)
    bad = lifecycle.ack(bad, actor=SYSTEM, lease_id=str(bad.lease_id))
    bad = lifecycle.fail(bad, error="boom", actor=SYSTEM)
    return [plain, tagged, delivered, running, done, bad]


def test_job_answers_equal_drf_in_every_state(space, jobs_in_every_shape):
    statuses = set()
    for job in jobs_in_every_shape:
        statuses.add(job.status)
        assert job_data(job) == drf(JobOut, job)
        fresh = Job.objects.select_related("space").get(pk=job.pk)  # as read from the database
        assert job_data(fresh) == drf(JobOut, fresh)
        assert represent_all(JobSummaryOut, [fresh]) == [drf(JobSummaryOut, fresh)]
    assert statuses >= {"pending", "scheduled", "delivered", "running", "completed"}
    assert job_data(jobs_in_every_shape[3])["progress"] == {
        "percent": 40.5,
        "message": "halfway",
        "sub_progress": {"a": 0.5},
    }
    assert job_data(jobs_in_every_shape[0])["progress"] is None


def test_event_answers_equal_drf(space, jobs_in_every_shape):
    events = list(JobEvent.objects.filter(job__space=space).order_by("pk"))
    assert len(events) > 10
    assert represent_all(EventOut, events) == [drf(EventOut, e) for e in events]


class Shapes(serializers.Serializer):
    """Fields that must leave the plain path: a method field, a callable attribute, a
    missing attribute with a default, a missing optional attribute, a nested path through
    a relation that is null.
    """

    id = serializers.UUIDField()
    label = serializers.SerializerMethodField()
    called = serializers.CharField(source="get_status_display")
    fallback = serializers.CharField(source="no_such_attribute", default="dflt")
    skipped = serializers.CharField(source="also_missing", required=False)
    org = serializers.UUIDField(source="space.organization_id")

    def get_label(self, job: Job) -> str:
        return f"{job.name}!"


def test_fields_outside_the_plain_path_answer_as_drf_does(space):
    job = create_job(space)
    represent = compile_representation(Shapes())
    assert represent(job) == drf(Shapes, job)
    assert represent(job)["called"] == job.get_status_display()
    assert represent(job)["fallback"] == "dflt"
    assert "skipped" not in represent(job)
    not_a_model = SimpleNamespace(id=job.id, name="n", get_status_display=lambda: "Pending")
    not_a_model.space = job.space
    assert represent(not_a_model) == drf(Shapes, not_a_model)

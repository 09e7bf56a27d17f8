import io
import json
import logging
import time

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from emitrun.logs import ContextFilter, JsonFormatter
from jobs import lifecycle, wakeup
from tests.conftest import SYSTEM, create_job


def _sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


@pytest.mark.django_db
def test_metrics_from_loopback_show_queue_depth_per_space(client, space, other_space):
    create_job(space)
    create_job(space)
    create_job(other_space)
    r = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/plain")
    text = r.content.decode()
    assert f'emitrun_queue_depth{{space="{space.id}",status="pending"}} 2.0' in text
    assert f'emitrun_queue_depth{{space="{other_space.id}",status="pending"}} 1.0' in text
    assert "emitrun_outbox_oldest_pending_seconds" in text


@pytest.mark.django_db
def test_metrics_from_elsewhere_need_the_token(client):
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **outside).status_code == 404
    with override_settings(EMITRUN_METRICS_TOKEN="s3cret-metrics"):
        assert client.get("/metrics", **outside).status_code == 404
        wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", **outside)
        assert wrong.status_code == 404
        ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics", **outside)
        assert ok.status_code == 200
    assert client.post("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 405


@pytest.mark.django_db
def test_counters_move_only_when_the_transition_commits(
    space, running_job, django_capture_on_commit_callbacks
):
    labels = {"space": str(space.id), "name": running_job.name, "outcome": "completed"}
    before = _sample("emitrun_jobs_total", **labels)
    runs = _sample("emitrun_job_run_seconds_count")
    waits = _sample("emitrun_job_wait_seconds_count")
    with django_capture_on_commit_callbacks(execute=False):
        lifecycle.complete(
            running_job, actor=SYSTEM, lease_id=str(running_job.lease_id), result=None
        )
    assert _sample("emitrun_jobs_total", **labels) == before  # not committed: not counted

    job = create_job(space, name=running_job.name)
    with django_capture_on_commit_callbacks(execute=True):
        (job,) = lifecycle.poll(space, limit=1, actor=SYSTEM)
        job = lifecycle.ack(job, actor=SYSTEM, lease_id=str(job.lease_id))
        lifecycle.complete(job, actor=SYSTEM, lease_id=str(job.lease_id), result=None)
    assert _sample("emitrun_jobs_total", **labels) == before + 1
    assert _sample("emitrun_job_run_seconds_count") == runs + 1
    assert _sample("emitrun_job_wait_seconds_count") == waits + 1  # delivered, not again at ack


@pytest.fixture
def json_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("emitrun.access")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


@pytest.mark.django_db
def test_access_log_is_json_with_request_space_and_job_ids_and_no_secret(
    api, space, pending_job, json_log
):
    r = api.admin.get(f"/api/v1/jobs/{pending_job.id}", HTTP_X_REQUEST_ID="trace-42")
    assert r.status_code == 200
    assert r["X-Request-Id"] == "trace-42"
    (line,) = [json.loads(x) for x in json_log.getvalue().splitlines()]
    assert line["request_id"] == "trace-42"
    assert line["job_id"] == str(pending_job.id)
    assert line["space_id"] == str(space.id)  # from the token: the route names no space
    assert (line["route"], line["status"], line["level"]) == (
        "api/v1/jobs/<str:job_id>",
        200,
        "INFO",
    )
    assert api.admin.secret not in json_log.getvalue()


@pytest.mark.django_db
def test_a_made_up_request_id_is_replaced(client, json_log):
    r = client.get("/health/live", HTTP_X_REQUEST_ID="bad id with spaces")
    assert r["X-Request-Id"] != "bad id with spaces"
    assert json.loads(json_log.getvalue())["request_id"] == r["X-Request-Id"]


@pytest.fixture
def draining():
    wakeup.drain()
    yield
    wakeup._draining.clear()  # the process goes on serving the other tests


@pytest.mark.django_db
def test_a_stopping_node_answers_long_polls_at_once_and_empty(api, space, draining):
    started = time.monotonic()
    r = api.worker.post(f"/api/v1/spaces/{space.id}/jobs/poll", {"wait_seconds": 10})
    assert r.status_code == 200
    assert r.json()["jobs"] == []
    assert time.monotonic() - started < 5

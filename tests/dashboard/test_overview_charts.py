from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from jobs import insights, lifecycle
from tests.conftest import SYSTEM, create_job


def chart_url(space, window="hour"):
    return f"/o/{space.organization.slug}/s/{space.slug}/overview/charts.json?window={window}"


def minute_start(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def run(traveller, start, space, name, *, wait, runtime, fail=False):
    """A job created at `start`, acked `wait` s later, finished `runtime` s after that."""
    traveller.move_to(start)
    job = create_job(space, name)
    traveller.move_to(start + timedelta(seconds=wait))
    (job,) = lifecycle.poll(space, limit=1, names=[name], worker_id="w", actor=SYSTEM)
    job = lifecycle.ack(job, lease_id=str(job.lease_id), actor=SYSTEM)
    traveller.move_to(start + timedelta(seconds=wait + runtime))
    if fail:
        return lifecycle.fail(job, error="boom", retry=False, actor=SYSTEM)
    return lifecycle.complete(job, result=None, actor=SYSTEM)


@pytest.fixture
def history(space, other_space):
    """Known finished jobs: two in one minute 20 minutes ago, one three minutes later,
    a killed one, one two hours ago, and one in another organization's space.
    """
    t0 = minute_start(timezone.now() - timedelta(minutes=20))
    with time_machine.travel(t0, tick=False) as traveller:
        run(traveller, t0, space, "a", wait=10, runtime=30)
        run(traveller, t0, space, "b", wait=5, runtime=45, fail=True)
        run(traveller, t0 + timedelta(minutes=3), space, "c", wait=1, runtime=2)
        traveller.move_to(t0)
        lifecycle.kill(create_job(space, "k"), actor=SYSTEM)
        run(traveller, t0 - timedelta(hours=2), space, "old", wait=4, runtime=4)
        run(traveller, t0, other_space, "a", wait=1, runtime=1)
    return t0


def at(data, when: datetime) -> int:
    return data["t"].index(int(when.timestamp()) // data["bucket_seconds"] * data["bucket_seconds"])


def test_hour_chart_counts_and_percentiles_of_known_jobs(owner_client, space, history):
    response = owner_client.get(chart_url(space))
    assert response.status_code == 200
    data = response.json()
    assert (data["window"], data["bucket_seconds"], len(data["t"])) == ("hour", 60, 60)
    first = at(data, history)
    assert (data["completed"][first], data["failed"][first]) == (1, 1)
    assert (data["wait_p50"][first], data["wait_p95"][first]) == (7.5, 9.75)
    assert (data["run_p50"][first], data["run_p95"][first]) == (37.5, 44.25)
    later = at(data, history + timedelta(minutes=3))
    assert (data["completed"][later], data["failed"][later]) == (1, 0)
    assert (data["wait_p50"][later], data["run_p95"][later]) == (1.0, 2.0)
    assert (sum(data["completed"]), sum(data["failed"])) == (2, 1)
    empty = at(data, history + timedelta(minutes=1))
    assert (data["completed"][empty], data["wait_p50"][empty]) == (0, None)


def test_day_chart_includes_older_jobs_in_wider_buckets(owner_client, space, history):
    data = owner_client.get(chart_url(space, "day")).json()
    assert (data["bucket_seconds"], len(data["t"])) == (900, 96)
    assert (sum(data["completed"]), sum(data["failed"])) == (3, 1)
    old = at(data, history - timedelta(hours=2) + timedelta(seconds=8))
    assert data["completed"][old] == 1
    assert data["wait_p50"][old] == 4.0


def test_buckets_end_with_the_current_one(owner_client, space):
    with time_machine.travel(timezone.now(), tick=False):
        data = owner_client.get(chart_url(space)).json()
        now = timezone.now().timestamp()
    assert data["t"][-1] <= now < data["t"][-1] + 60
    assert data["t"] == sorted(data["t"])
    assert data["completed"] == [0] * 60
    assert data["run_p95"] == [None] * 60


def test_unknown_window_is_400_with_the_error_body(owner_client, space):
    response = owner_client.get(chart_url(space, "week"))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert "hour, day" in body["message"]


def test_python_summary_agrees_with_sql(space, history):
    start = history - timedelta(hours=3)
    end = history + timedelta(hours=1)
    for step in (60, 900):
        in_sql = insights._buckets_sql(space, start, end, step)
        in_python = insights._buckets_python(space, start, end, step)
        assert in_python.keys() == in_sql.keys()
        for slot, row in in_sql.items():
            assert in_python[slot] == pytest.approx(row)


def test_percentile_interpolates_like_percentile_cont():
    assert insights.percentile([], 0.5) is None
    assert insights.percentile([3.0], 0.95) == 3.0
    assert insights.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert insights.percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)


def test_queue_rate_counts_completions_of_the_last_ten_minutes(space, history):
    with time_machine.travel(history + timedelta(minutes=5), tick=False):
        rows = {row.name: row for row in insights.queue_rows(space)}
    assert rows["a"].completed_per_minute == 0.1
    assert rows["b"].completed_per_minute == 0.0  # it died
    assert rows["old"].completed_per_minute == 0.0
    assert not any(row.paused for row in rows.values())


def test_series_is_scoped_to_the_space(other_space, history):
    now = datetime.now(tz=UTC)
    data = insights.series(other_space, "hour", now=now)
    assert (sum(data["completed"]), sum(data["failed"])) == (1, 0)

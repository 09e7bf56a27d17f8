"""Statements prepared per connection (DB_PREPARE_THRESHOLD) keep their index scans.

A prepared statement may be planned once for any parameter values (a generic plan): the
planner then guesses how many rows a range or a LIMIT parameter matches, and a wrong guess
turns a claim into a sequential scan of every finished job. Here every statement is
prepared on its first run, in a space holding many finished jobs beside a few waiting
ones: no call of the job lifecycle or the lists may read jobs_job sequentially, even
planned generically, and neither may the sweeper or retention.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from jobs import lifecycle
from jobs.lifecycle.retention import prune_finished
from jobs.models import Job

FINISHED = 20_000


def fill_finished(space, n: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO jobs_job (id, space_id, name, status, payload, priority, attempts,"
            " retry_count, max_retries, timeout_seconds, run_at, worker_id, progress_message,"
            " last_error, callback_url, callback_secret, created_at, updated_at, completed_at,"
            " finished_at) SELECT gen_random_uuid(), %s, 'work', 'completed', '{}'::jsonb, 0, 1,"
            " 0, 3, 300, now() - interval '2 days', '', '', '', '', '',"
            " now() - interval '2 days' - g * interval '1 second', now(), now() - interval '1 day'"
            " - g * interval '1 minute', now() - interval '1 day' - g * interval '1 minute'"
            " FROM generate_series(1, %s) g",
            [space.pk, n],
        )
        cursor.execute("ANALYZE jobs_job")


def fill_waiting(space, n: int) -> None:
    """n pending jobs and n delivered ones whose leases run for another hour."""
    lease = timezone.now() + timedelta(hours=1)
    with connection.cursor() as cursor:
        for status, expires in (("pending", None), ("delivered", lease)):
            cursor.execute(
                "INSERT INTO jobs_job (id, space_id, name, status, payload, priority, attempts,"
                " retry_count, max_retries, timeout_seconds, run_at, worker_id,"
                " progress_message, last_error, callback_url, callback_secret, created_at,"
                " updated_at, lease_id, lease_expires_at) SELECT gen_random_uuid(), %s, 'other',"
                " %s, '{}'::jsonb, -1, 0, 0, 3, 300, now(), '', '', '', '', '', now(), now(),"
                " gen_random_uuid(), %s FROM generate_series(1, %s) g",
                [space.pk, status, expires, n],
            )
        cursor.execute("ANALYZE jobs_job")


def sequential_scans() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'jobs_job'")
        return cursor.fetchone()[0]


@pytest.fixture
def prepared():
    """Every statement of this connection prepared on its first run."""
    connection.ensure_connection()
    pg = connection.connection
    threshold = pg.prepare_threshold
    pg.prepare_threshold = 0
    yield
    pg.prepare_threshold = threshold


@pytest.fixture
def generic_plans(prepared):
    """...and planned generically, for the rest of the test's transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")


def ok(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


@pytest.mark.django_db
def test_a_statement_run_five_times_is_prepared_on_its_connection(api, space):
    assert settings.DB_PREPARE_THRESHOLD == 5
    base = f"/api/v1/spaces/{space.id}/jobs"

    def prepared_space_checks() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements"
                " WHERE statement LIKE '%%FROM jobs_queue WHERE space_id%%'"
            )
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # psycopg forgets its counts too: a fresh start
    for _ in range(4):  # the space check of an empty poll, run below the threshold
        assert ok(api.worker.post(f"{base}/poll", {"limit": 1}))["jobs"] == []
    assert prepared_space_checks() == 0
    for _ in range(2):
        assert ok(api.worker.post(f"{base}/poll", {"limit": 1}))["jobs"] == []
    assert prepared_space_checks() == 1


@pytest.mark.django_db
def test_generic_plans_of_the_api_read_jobs_through_indexes(api, space, generic_plans):
    fill_finished(space, FINISHED)
    fill_waiting(space, 3000)  # below the new jobs' priority: polls take the new ones first
    base = f"/api/v1/spaces/{space.id}/jobs"
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    before = sequential_scans()
    for round_ in range(2):  # the second round runs the prepared statements again
        ok(api.producer.post(base, {"name": "work", "payload": {"r": round_}}), 201)
        ok(api.producer.post(base, {"name": "work", "scheduled_for": later}), 201)
        ok(api.producer.post(f"{base}/bulk", {"jobs": [{"name": "work"}] * 6}))
        polled = ok(api.worker.post(f"{base}/poll", {"limit": 3, "worker_id": "w"}))["jobs"]
        first, second, third = polled
        lease = {"lease_id": first["lease_id"]}
        ok(api.worker.post(f"/api/v1/jobs/{first['id']}/ack", lease))
        ok(api.worker.post(f"/api/v1/jobs/{first['id']}/heartbeat", lease))
        ok(api.worker.post(f"/api/v1/jobs/{first['id']}/complete", {**lease, "result": 1}))
        ok(api.worker.post(f"/api/v1/jobs/{second['id']}/ack", {"lease_id": second["lease_id"]}))
        failed = {"lease_id": second["lease_id"], "error": "boom"}
        ok(api.worker.post(f"/api/v1/jobs/{second['id']}/fail", failed))
        batch = {"jobs": [{"id": third["id"], "lease_id": third["lease_id"]}]}
        ok(api.worker.post(f"{base}/ack", batch))
        ok(api.worker.post(f"{base}/complete", batch))
        claimed = ok(api.worker.post("/api/v1/jobs/claim", {"queue_name": "work", "limit": 2}))
        assert len(claimed["jobs"]) == 2
        ok(api.producer.get(f"{base}?limit=50"))
        page = api.producer.get(f"{base}?status=completed&limit=50")
        ok(page)
        ok(api.producer.get(f"{base}?status=completed&limit=50&cursor={page['X-Next-Cursor']}"))
        ok(api.producer.get(f"/api/v1/jobs/{first['id']}"))
    assert sequential_scans() == before
    assert Job.objects.filter(space=space, status="completed").count() == FINISHED + 4


@pytest.mark.django_db
def test_the_sweeper_and_retention_keep_their_indexes_when_prepared(api, space, prepared):
    """Their statements compare a status given as a parameter, which a generic plan cannot
    match with a partial index: PostgreSQL's own choice (plan_cache_mode auto, production's)
    must keep planning them for their values, as before they were prepared.
    """
    fill_finished(space, FINISHED)
    base = f"/api/v1/spaces/{space.id}/jobs"
    before = sequential_scans()
    for _ in range(8):  # past the five custom plans after which a generic one is weighed
        ok(api.producer.post(f"{base}/bulk", {"jobs": [{"name": "work"}] * 2}))
        (late,) = ok(api.worker.post(f"{base}/poll", {"limit": 1, "worker_id": "w"}))["jobs"]
        Job.objects.filter(pk=late["id"]).update(lease_expires_at=timezone.now())
        # A poll settles the expired delivery first; the sweeper and retention run too.
        ok(api.worker.post(f"{base}/poll", {"limit": 1, "worker_id": "w"}))
        lifecycle.expire_overdue(now=timezone.now() + timedelta(hours=2))
        # The oldest few hundred finished jobs are past retention (one every minute back).
        oldest = timezone.now() + timedelta(days=space.retention_days - 14.5)
        assert prune_finished(now=oldest, batch=5, max_batches=1) == 5
    assert sequential_scans() == before
    finished = Job.objects.filter(space=space, status="completed")
    assert finished.count() == FINISHED - 40
    # Oldest first: the 40 pruned are the 40 that finished earliest (one a minute).
    oldest_left = finished.order_by("finished_at").values_list("finished_at", flat=True)[0]
    newest_left = finished.order_by("-finished_at").values_list("finished_at", flat=True)[0]
    assert newest_left - oldest_left == timedelta(minutes=FINISHED - 41)

"""Raw SQL: the floor every ratio divides by (psycopg doing the lifecycle's statements on
the app's own tables), plus the fills and probes of the other scenarios.
"""

import threading
import time
from collections.abc import Callable

import psycopg

from bench.load import summary

JOB_COLUMNS = (
    "id, space_id, name, status, payload, priority, attempts, retry_count, max_retries,"
    " timeout_seconds, run_at, worker_id, progress_message, last_error, callback_url,"
    " callback_secret, created_at, updated_at, completed_at, finished_at"
)
EVENT_INSERT = (
    "INSERT INTO jobs_jobevent (job_id, space_id, type, status, data, worker_id, actor, at)"
    " SELECT id, %s, %s, %s, '{}'::jsonb, 'raw', 'token:raw', now() FROM unnest(%s::uuid[]) id"
)


def claim_sql(limit: int) -> str:
    """The claim of up to `limit` jobs. The limit is written into the statement, as the
    lifecycle writes it: prepared with a parameter there, its generic plan may guess the
    limit large and join by a sequential scan.
    """
    return (
        "WITH picked AS MATERIALIZED (SELECT id FROM jobs_job WHERE space_id = %s"
        f" AND status = 'pending' ORDER BY priority DESC, run_at, id LIMIT {int(limit)}"
        " FOR UPDATE SKIP LOCKED) UPDATE jobs_job j SET status = %s, lease_id ="
        " gen_random_uuid(), lease_expires_at = now() + interval '30 seconds', worker_id = 'raw',"
        " delivered_at = now(), updated_at = now() FROM picked WHERE j.id = picked.id"
        " RETURNING j.id, j.lease_id"
    )


# The claim with its events in one statement, committed on its own, as the lifecycle claims
# when there is nothing to settle first and no delivery to write (jobs/lifecycle/claim.py).
CLAIM_WITH_EVENTS = (
    f"WITH claimed AS ({claim_sql(10)}), events AS (INSERT INTO jobs_jobevent"
    " (job_id, space_id, type, status, data, worker_id, actor, at)"
    " SELECT id, %s, %s, %s, '{}'::jsonb, 'raw', 'token:raw', now() FROM claimed"
    " RETURNING job_id) SELECT c.id, c.lease_id FROM claimed c JOIN events e ON e.job_id = c.id"
)


def _claim(conn: psycopg.Connection, space: str, status: str, events: bool = True) -> list:
    if not events:
        with conn.transaction():
            return [r[0] for r in conn.execute(claim_sql(10), [space, status]).fetchall()]
    kind = "job.started" if status == "running" else f"job.{status}"
    params = [space, status, space, kind, status]
    return [r[0] for r in conn.execute(CLAIM_WITH_EVENTS, params).fetchall()]


def fill(url: str, space: str, n: int, *, status: str = "pending", age_days: int = 0) -> None:
    """n jobs in one INSERT ... SELECT (the fixtures of the scenarios, not a measurement)."""
    finished = "now() - interval '1 day' * %s" if status != "pending" else "NULL"
    sql = (
        f"INSERT INTO jobs_job ({JOB_COLUMNS}) SELECT gen_random_uuid(), %s, 'bench', %s,"
        " jsonb_build_object('n', g), 0, 1, 0, 3, 300, now() - interval '1 day' * %s - g * interval"
        " '1 millisecond', '', '', '', '', '', now() - interval '1 day' * %s - g * interval"
        f" '1 millisecond', now(), {finished}, {finished} FROM generate_series(1, %s) g"
    )
    params = [space, status, age_days, age_days]
    if status != "pending":
        params += [age_days, age_days]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql, [*params, n])


def reset(url: str, attempts: int = 10) -> None:
    """Empties the job tables between scenarios. The servers may still be finishing a
    request or a sweep, so a lock conflict waits a moment and tries again.
    """
    for attempt in range(attempts):
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SET lock_timeout = '5s'")
                # Not analyzed after: statistics of an empty table would have the servers'
                # prepared statements plan sequential scans while the next scenario fills
                # it, until autovacuum analyzes it (docs/performance.md). Truncated, the
                # table is planned as a new install's is.
                conn.execute(
                    "TRUNCATE jobs_jobevent, jobs_jobtag, notifications_delivery, jobs_job CASCADE"
                )
                return
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def _per_job(conn: psycopg.Connection, space: str, ids: list, events: bool) -> None:
    for job_id in ids:
        for status in ("running", "completed"):
            with conn.transaction():
                conn.execute(
                    "UPDATE jobs_job SET status = %s, updated_at = now() WHERE id = %s",
                    [status, job_id],
                )
                if events:
                    conn.execute(EVENT_INSERT, [space, f"job.{status}", status, [job_id]])


def lifecycle(conn: psycopg.Connection, space: str, events: bool) -> int:
    """claim 10 (delivered), then ack and complete each job in its own transaction."""
    ids = _claim(conn, space, "delivered", events)
    _per_job(conn, space, ids, events)
    return len(ids)


def claim_ack(conn: psycopg.Connection, space: str) -> int:
    """claim 10 straight to running (claim is ack), complete each, with events."""
    ids = _claim(conn, space, "running")
    for job_id in ids:
        with conn.transaction():
            conn.execute("UPDATE jobs_job SET status = 'completed' WHERE id = %s", [job_id])
            conn.execute(EVENT_INSERT, [space, "job.completed", "completed", [job_id]])
    return len(ids)


def batched(conn: psycopg.Connection, space: str) -> int:
    """claim 10, ack the 10 in one transaction, complete the 10 in one, with events."""
    ids = _claim(conn, space, "delivered")
    for status in ("running", "completed"):
        with conn.transaction():
            conn.execute(
                "UPDATE jobs_job SET status = %s, updated_at = now() WHERE id = ANY(%s)",
                [status, ids],
            )
            conn.execute(EVENT_INSERT, [space, f"job.{status}", status, ids])
    return len(ids)


def insert100(conn: psycopg.Connection, space: str) -> int:
    """A batch of 100 pending jobs and their created events in one transaction."""
    with conn.transaction():
        ids = [
            r[0]
            for r in conn.execute(
                f"INSERT INTO jobs_job ({JOB_COLUMNS}) SELECT gen_random_uuid(), %s, 'bench',"
                " 'pending', jsonb_build_object('n', g), 0, 0, 0, 3, 300, now(), '', '', '',"
                " '', '', now(), now(), NULL, NULL FROM generate_series(1, 100) g RETURNING id",
                [space],
            ).fetchall()
        ]
        conn.execute(EVENT_INSERT, [space, "job.created", "pending", ids])
    return len(ids)


def run(url: str, step: Callable[[psycopg.Connection], int], conns: int, seconds: float) -> dict:
    """`conns` connections (one thread each) running `step` until the time is up."""
    moved = [0] * conns
    start = time.perf_counter()

    def loop(i: int) -> None:
        # Autocommit: a lone statement commits on its own; transaction() blocks BEGIN/COMMIT.
        with psycopg.connect(url, autocommit=True) as conn:
            while time.perf_counter() - start < seconds:
                n = step(conn)
                moved[i] += n
                if n == 0:
                    time.sleep(0.001)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"connections": conns, "jobs": sum(moved), "jobs_per_s": round(sum(moved) / elapsed)}


def claim_latency(url: str, space: str, samples: int) -> dict:
    """One connection claiming one job at a time (and putting it back): claim latency."""
    lat = []
    with psycopg.connect(url) as conn:
        for _ in range(samples):
            start = time.perf_counter()
            with conn.transaction():
                rows = conn.execute(claim_sql(1), [space, "delivered"]).fetchall()
            lat.append((time.perf_counter() - start) * 1000)
            with conn.transaction():
                conn.execute(
                    "UPDATE jobs_job SET status = 'completed', finished_at = now()"
                    " WHERE id = ANY(%s)",
                    [[r[0] for r in rows]],
                )
    return summary(lat)


def table_health(url: str) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT n_live_tup, n_dead_tup, autovacuum_count, autoanalyze_count"
            " FROM pg_stat_user_tables WHERE relname = 'jobs_job'"
        ).fetchone()
        size = conn.execute("SELECT pg_total_relation_size('jobs_job')").fetchone()[0]
    live, dead, vacuums, analyzes = row
    return {
        "live": live,
        "dead": dead,
        "autovacuums": vacuums,
        "autoanalyzes": analyzes,
        "total_mb": round(size / 2**20, 1),
    }

"""Peers on the same no-op workload: procrastinate (PostgreSQL) and Celery with Redis.

Run as `python -m bench.peers procrastinate|celery N`; prints one JSON line. Jobs are
queued first, then the workers drain them: the rate is jobs over draining time.
"""

import asyncio
import json
import os
import subprocess
import sys
import time

import psycopg
import redis

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
PROC_DB = "emitrun_bench_procrastinate"
CONCURRENCY = 4


def procrastinate_rate(n: int) -> dict:
    import procrastinate

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PROC_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PROC_DB}"')
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=f"{PG}/{PROC_DB}"))

    @app.task(name="noop")
    def noop() -> None:
        return None

    async def go() -> float:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            for start in range(0, n, 1000):
                await noop.batch_defer_async(*[{}] * min(1000, n - start))
            began = time.perf_counter()
            await app.run_worker_async(
                concurrency=CONCURRENCY, wait=False, install_signal_handlers=False
            )
            return time.perf_counter() - began

    seconds = asyncio.run(go())
    with psycopg.connect(f"{PG}/{PROC_DB}") as conn:
        done = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        ).fetchone()[0]
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PROC_DB}" WITH (FORCE)')
    return {
        "peer": "procrastinate",
        "jobs": done,
        "seconds": round(seconds, 2),
        "jobs_per_s": round(done / seconds, 1),
        "workers": f"1 process, concurrency {CONCURRENCY}",
    }


def celery_rate(n: int) -> dict:
    from bench import celery_peer

    r = redis.Redis.from_url(REDIS_URL)
    r.delete(celery_peer.QUEUE, celery_peer.COUNT, celery_peer.FIRST, celery_peer.LAST)
    for _ in range(n):
        celery_peer.noop.apply_async(args=[n], queue=celery_peer.QUEUE)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.celery_peer", "worker", "-Q",
         celery_peer.QUEUE, "-c", str(CONCURRENCY), "-P", "prefork", "--loglevel", "ERROR",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env={**os.environ, "BENCH_REDIS_URL": REDIS_URL},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while r.get(celery_peer.LAST) is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.terminate()
        worker.wait(20)
    first, last = r.get(celery_peer.FIRST), r.get(celery_peer.LAST)
    done = int(r.get(celery_peer.COUNT) or 0)
    seconds = float(last) - float(first) if first and last else float("nan")
    r.delete(celery_peer.QUEUE, celery_peer.COUNT, celery_peer.FIRST, celery_peer.LAST)
    return {
        "peer": "celery+redis",
        "jobs": done,
        "seconds": round(seconds, 2),
        "jobs_per_s": round(done / seconds, 1) if seconds == seconds else 0,
        "workers": f"{CONCURRENCY} prefork processes, acks_late",
    }


if __name__ == "__main__":
    which, count = sys.argv[1], int(sys.argv[2])
    result = procrastinate_rate(count) if which == "procrastinate" else celery_rate(count)
    print(json.dumps(result))

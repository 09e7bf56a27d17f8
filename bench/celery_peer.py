"""The Celery peer: a no-op task with acks_late on Redis. It counts executions in Redis
(first and last time) so the bench can time the drain without a result backend.
"""

import os
import time

import redis
from celery import Celery

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
QUEUE = "emitrun-bench-peer"
COUNT, FIRST, LAST = "bench:peer:count", "bench:peer:first", "bench:peer:last"

app = Celery("bench_peer", broker=REDIS_URL)
app.conf.update(
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
)
_redis = redis.Redis.from_url(REDIS_URL)


@app.task(name="bench.noop")
def noop(total: int) -> None:
    n = _redis.incr(COUNT)
    if n == 1:
        _redis.set(FIRST, time.time())
    if n == total:
        _redis.set(LAST, time.time())

"""HTTP workload steps: each does one unit of work with a Client and returns jobs moved."""

import time
from datetime import datetime

from bench.load import Client


def create(c: Client, ctx: dict) -> int:
    body = {"name": "bench", "payload": {"n": 1}}
    return 1 if c.call("create", "POST", f"{ctx['base']}/jobs", body) else 0


def bulk(c: Client, ctx: dict) -> int:
    body = {"name": "bench", "jobs": [{"payload": {"n": i}} for i in range(100)]}
    answer = c.call("bulk100", "POST", f"{ctx['base']}/jobs/bulk", body)
    return answer["success_count"] if answer else 0


def _poll(c: Client, ctx: dict) -> list[dict]:
    answer = c.call("poll10", "POST", f"{ctx['base']}/jobs/poll", {"limit": 10, "worker_id": "b"})
    return answer["jobs"] if answer else []


def lifecycle(c: Client, ctx: dict) -> int:
    """poll(10), then ack and complete each job: the HTTP-shaped lifecycle."""
    done = 0
    for job in _poll(c, ctx):
        lease = {"lease_id": job["lease_id"]}
        if c.call("ack", "POST", f"/api/v1/jobs/{job['id']}/ack", lease) is None:
            continue
        if c.call("complete", "POST", f"/api/v1/jobs/{job['id']}/complete", lease):
            done += 1
    return done


def lifecycle_batch(c: Client, ctx: dict) -> int:
    """poll(10), one batch ack, one batch complete."""
    jobs = _poll(c, ctx)
    if not jobs:
        return 0
    items = [{"id": j["id"], "lease_id": j["lease_id"]} for j in jobs]
    if c.call("batch_ack", "POST", f"{ctx['base']}/jobs/ack", {"jobs": items}) is None:
        return 0
    answer = c.call("batch_complete", "POST", f"{ctx['base']}/jobs/complete", {"jobs": items})
    return answer["success_count"] if answer else 0


def _claim(c: Client, limit: int = 10) -> list[dict]:
    body = {"limit": limit, "queue_name": "bench"}
    answer = c.call(f"claim{limit}", "POST", "/api/v1/jobs/claim", body)
    return answer["jobs"] if answer else []


def claim(c: Client, ctx: dict) -> int:
    """Spooled-style: claim(10) straight to running, complete each."""
    done = 0
    for job in _claim(c):
        lease = {"lease_id": job["lease_id"]}
        if c.call("complete", "POST", f"/api/v1/jobs/{job['id']}/complete", lease):
            done += 1
    return done


def claim_batch(c: Client, ctx: dict, limit: int = 10) -> int:
    """claim(10) straight to running, one batch complete."""
    jobs = _claim(c, limit)
    if not jobs:
        return 0
    items = [{"id": j["id"], "lease_id": j["lease_id"]} for j in jobs]
    answer = c.call("batch_complete", "POST", f"{ctx['base']}/jobs/complete", {"jobs": items})
    return answer["success_count"] if answer else 0


def claim_batch50(c: Client, ctx: dict) -> int:
    """claim(50) straight to running, one batch complete of the 50."""
    return claim_batch(c, ctx, 50)


def produce(c: Client, ctx: dict) -> int:
    """One create at the producer's steady rate (each thread keeps its own schedule)."""
    next_at = ctx.setdefault("_next", {}).get(id(c), time.time())
    delay = next_at - time.time()
    if delay > 0:
        time.sleep(delay)
    ctx["_next"][id(c)] = max(next_at, time.time() - 1) + ctx["interval"]
    return 1 if c.call("create", "POST", f"{ctx['base']}/jobs", {"name": "bench"}) else 0


def long_poll(c: Client, ctx: dict) -> int:
    """A worker waiting in a long-poll for up to 10 jobs (as the lifecycle's workers poll);
    records created -> received for each job. A wake finds the one job that woke it; the
    limit only matters once jobs queue up, when one answer takes several.
    """
    body = {"limit": 10, "worker_id": "lp", "wait_seconds": 5}
    answer = c.call("long_poll", "POST", f"{ctx['base']}/jobs/poll", body)
    now = time.time()
    for job in (answer or {}).get("jobs", []):
        created = datetime.fromisoformat(job["created_at"].replace("Z", "+00:00")).timestamp()
        c.lat["dispatch"].append((now - created) * 1000)
    return len((answer or {}).get("jobs", []))

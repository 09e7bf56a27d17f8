"""Jobs in a given state for the jobs pages' tests, reached through the lifecycle."""

from jobs import lifecycle
from jobs.models import Job
from spaces.models import Space
from tests.conftest import SYSTEM, create_job


def running(space: Space, name: str = "work", **fields: object) -> Job:
    job = lifecycle.claim_one(create_job(space, name, **fields), worker_id="w-1", actor=SYSTEM)
    return lifecycle.ack(job, actor=SYSTEM, lease_id=str(job.lease_id))


def dead(space: Space, name: str = "work", error: str = "boom", **fields: object) -> Job:
    job = running(space, name, **fields)
    return lifecycle.fail(job, error=error, retry=False, lease_id=str(job.lease_id), actor=SYSTEM)


def jobs_url(space: Space, suffix: str = "") -> str:
    return f"/o/{space.organization.slug}/s/{space.slug}/jobs/{suffix}"


def dead_url(space: Space, suffix: str = "") -> str:
    return f"/o/{space.organization.slug}/s/{space.slug}/dead/{suffix}"

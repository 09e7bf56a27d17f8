"""Celery interfaces of the lifecycle's time-driven work: one line each."""

from celery import shared_task

from jobs import lifecycle


@shared_task(name="jobs.tasks.sweep_task")
def sweep_task() -> dict[str, int]:
    return lifecycle.expire_overdue()


@shared_task(name="jobs.tasks.prune_jobs_task")
def prune_jobs_task() -> int:
    return lifecycle.prune_finished()

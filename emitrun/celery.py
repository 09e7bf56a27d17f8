"""The Celery app and its beat schedule.

Broker: Redis with REDIS_URL, else kombu's filesystem transport (the embedded default).
Every periodic task is idempotent and safe to run twice at once; `expires` drops runs
that waited in the queue past their next turn, so a stopped worker does not come back to
a pile of stale sweeps (queued messages survive restarts on both transports).
"""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emitrun.settings")

app = Celery("emitrun")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _schedule(sender: Celery, **kwargs: object) -> None:
    """The beat schedule, in seconds from settings (read once Django's settings load)."""
    from django.conf import settings

    every = {
        "jobs.tasks.sweep_task": settings.EMITRUN_SWEEP_SECONDS,
        "notifications.tasks.dispatch_task": settings.EMITRUN_DISPATCH_SECONDS,
        "jobs.tasks.prune_jobs_task": settings.EMITRUN_PRUNE_SECONDS,
        "notifications.tasks.prune_deliveries_task": settings.EMITRUN_PRUNE_SECONDS,
    }
    sender.conf.beat_schedule = {
        name: {"task": name, "schedule": seconds, "options": {"expires": seconds}}
        for name, seconds in every.items()
    }


@setup_logging.connect
def _logging(loglevel: int | str | None = None, **kwargs: object) -> None:
    """Workers and beat log through settings.LOGGING (secrets masked), not Celery's own,
    at the level given on the command line."""
    import logging
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)

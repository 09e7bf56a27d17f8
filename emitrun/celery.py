"""The Celery app. Broker: Redis with REDIS_URL, else kombu's filesystem transport."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emitrun.settings")

app = Celery("emitrun")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

"""The outbox: every outbound call (job callback, Slack, HTTP push) is a row first."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs.models import Job
from spaces.models import Space


class Kind(models.TextChoices):
    CALLBACK = "callback"
    SLACK = "slack"
    PUSH = "push"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # claimed by a sender
    SENT = "sent"
    FAILED = "failed"  # gave up after max_attempts


class Delivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="deliveries")
    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    event_seq = models.BigIntegerField(null=True, blank=True)  # the JobEvent that caused it
    kind = models.CharField(max_length=10, choices=Kind.choices)
    event = models.CharField(max_length=40)  # completed, dead, job.pending, slack event...
    url = models.URLField(max_length=2048)
    headers = models.JSONField(default=dict, blank=True)
    body = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            # The dispatcher's scan: only rows still waiting are in it.
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_due_idx"
            ),
            models.Index(fields=["space", "-created_at"], name="delivery_space_idx"),
            # The dispatcher's rescue of rows whose sender crashed mid-send.
            models.Index(
                fields=["updated_at"], condition=Q(status="sending"), name="delivery_sending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event} -> {self.url} ({self.status})"

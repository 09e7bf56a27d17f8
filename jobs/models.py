"""Jobs, their tags and their events, and the queues they belong to.

Only jobs/lifecycle writes Job.status, leases and JobEvent rows.
"""

import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone

from spaces.models import Space


class Status(models.TextChoices):
    SCHEDULED = "scheduled"
    PENDING = "pending"
    DELIVERED = "delivered"
    RUNNING = "running"
    COMPLETED = "completed"
    DEAD = "dead"
    KILLED = "killed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Status.COMPLETED, Status.DEAD, Status.KILLED, Status.CANCELLED})
LEASED = frozenset({Status.DELIVERED, Status.RUNNING})


class Queue(models.Model):
    """A job name within a space. Made on first use; pausing it stops hand-outs.

    max_retries and default_timeout_seconds are the defaults of jobs created in it
    without their own.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="queues")
    name = models.CharField(max_length=64)
    max_retries = models.PositiveSmallIntegerField(default=3)
    default_timeout_seconds = models.PositiveIntegerField(default=300)
    settings = models.JSONField(default=dict, blank=True)
    paused = models.BooleanField(default=False)
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["space", "name"], name="queue_name_unique"),
        ]
        indexes = [
            models.Index(fields=["space"], condition=Q(paused=True), name="queue_paused_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: every index below leads with space, and each extra index on
    # this table is one more write per job insert and status change.
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="jobs", db_index=False)
    name = models.CharField(max_length=64)  # also the Spooled queue_name
    status = models.CharField(max_length=16, choices=Status.choices)
    payload = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    checkpoint = models.JSONField(null=True, blank=True)
    priority = models.SmallIntegerField(default=0)
    tags = models.JSONField(null=True, blank=True)  # array or object, as given
    # NULL, not "", means no key: the partial unique constraint skips NULLs.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001

    attempts = models.PositiveIntegerField(default=0)  # executions started
    retry_count = models.PositiveIntegerField(default=0)  # failures that were retried
    max_retries = models.PositiveSmallIntegerField(default=3)
    timeout_seconds = models.PositiveIntegerField(default=300)

    scheduled_for = models.DateTimeField(null=True, blank=True)
    # When the job is (or becomes) claimable: creation, scheduled time or retry due
    # time. Claim order is priority, then run_at.
    run_at = models.DateTimeField(default=timezone.now)
    lease_id = models.UUIDField(null=True, blank=True)
    # Delivery deadline while delivered, execution deadline while running.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker_id = models.CharField(max_length=128, blank=True, default="")

    progress_percent = models.FloatField(null=True, blank=True)
    progress_message = models.CharField(max_length=500, blank=True, default="")
    sub_progress = models.JSONField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    callback_url = models.URLField(max_length=2048, blank=True, default="")
    callback_headers = models.JSONField(null=True, blank=True)
    callback_secret = models.CharField(max_length=255, blank=True, default="")

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # any terminal state

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="job_idempotency_unique",
            ),
        ]
        indexes = [
            # Claim: only pending rows are in these, so finished jobs never slow it down.
            models.Index(
                fields=["space", "-priority", "run_at", "id"],
                condition=Q(status="pending"),
                name="job_claim_idx",
            ),
            models.Index(
                fields=["space", "name", "-priority", "run_at", "id"],
                condition=Q(status="pending"),
                name="job_claim_name_idx",
            ),
            # Due scheduled jobs (per space at claim time, across spaces for the sweeper).
            models.Index(
                fields=["space", "run_at"],
                condition=Q(status="scheduled"),
                name="job_due_space_idx",
            ),
            models.Index(fields=["run_at"], condition=Q(status="scheduled"), name="job_due_idx"),
            # Expired deliveries and executions.
            models.Index(
                fields=["space", "lease_expires_at"],
                condition=Q(status__in=["delivered", "running"]),
                name="job_lease_space_idx",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status__in=["delivered", "running"]),
                name="job_lease_idx",
            ),
            # Listing: newest first, by status, by name.
            models.Index(fields=["space", "-created_at", "-id"], name="job_list_idx"),
            models.Index(fields=["space", "status", "-created_at"], name="job_status_idx"),
            models.Index(fields=["space", "name", "-created_at"], name="job_name_idx"),
            # The dashboard table's other sort orders, keyset-paged on (field, id): without
            # them a page sorts every job of the space (seconds at a million rows).
            models.Index(fields=["space", "-priority", "-id"], name="job_priority_sort_idx"),
            models.Index(fields=["space", "-updated_at", "-id"], name="job_updated_sort_idx"),
            models.Index(fields=["space", "name", "id"], name="job_name_sort_idx"),
            # Retention pruning and DLQ age filters.
            models.Index(
                fields=["space", "finished_at"],
                condition=Q(finished_at__isnull=False),
                name="job_finished_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


class JobTag(models.Model):
    """One row per tag of a job: an array's strings, or an object's top-level keys.

    It gives the `tag` filter Postgres `tags ? tag` semantics through a plain
    btree index, on PostgreSQL and SQLite alike, and always within one space.
    """

    # jobtag_unique leads with job, jobtag_lookup_idx with space: no FK indexes needed.
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="tag_rows", db_index=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+", db_index=False)
    tag = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "tag"], name="jobtag_unique")]
        indexes = [models.Index(fields=["space", "tag", "job"], name="jobtag_lookup_idx")]

    def __str__(self) -> str:
        return self.tag


class JobEvent(models.Model):
    """One entry of a job's history. Its id is the `seq` that orders a space's stream."""

    id = models.BigAutoField(primary_key=True)
    # jobevent_job_idx and jobevent_space_idx lead with these: no FK indexes needed.
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events", db_index=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+", db_index=False)
    type = models.CharField(max_length=80)  # job.created, job.progress, ...
    status = models.CharField(max_length=16)  # the job's status after the event
    data = models.JSONField(null=True, blank=True)
    worker_id = models.CharField(max_length=128, blank=True, default="")
    actor = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["job", "id"], name="jobevent_job_idx"),
            models.Index(fields=["space", "id"], name="jobevent_space_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} {self.job_id}"

    @property
    def seq(self) -> int:
        return self.pk


class Worker(models.Model):
    """A worker process that registered itself (Spooled workers API). Informational:
    claiming never requires registration.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="workers")
    worker_id = models.CharField(max_length=128)  # the client's id, unique per space
    queue_name = models.CharField(max_length=64)
    hostname = models.CharField(max_length=255, blank=True)
    worker_type = models.CharField(max_length=64, blank=True)
    version = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    max_concurrency = models.PositiveIntegerField(default=5)
    current_jobs = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, default="healthy")  # as last reported
    heartbeat_interval_seconds = models.PositiveIntegerField(default=10)
    registered_at = models.DateTimeField(default=timezone.now)
    last_heartbeat_at = models.DateTimeField(default=timezone.now)
    deregistered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_heartbeat_at"]
        constraints = [
            models.UniqueConstraint(fields=["space", "worker_id"], name="worker_id_unique"),
        ]

    def __str__(self) -> str:
        return self.worker_id

    def status_at(self, now: datetime) -> str:
        """offline once deregistered or silent past twice its heartbeat interval."""
        silent = (now - self.last_heartbeat_at).total_seconds()
        if self.deregistered_at is not None or silent > 2 * self.heartbeat_interval_seconds:
            return "offline"
        return self.status

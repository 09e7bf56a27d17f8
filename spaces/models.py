"""Spaces (isolated queues), their notification settings and their API tokens."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from orgs.models import Organization


class Space(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="spaces")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)
    # A delivered job not acked within this many seconds goes back to pending.
    delivery_timeout_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(3600)]
    )
    # Retry backoff: a random delay in [0, min(cap, base * 2**retry_count)] ("full jitter").
    backoff_base_seconds = models.FloatField(
        default=2.0, validators=[MinValueValidator(0), MaxValueValidator(86400)]
    )
    backoff_cap_seconds = models.FloatField(
        default=3600.0, validators=[MinValueValidator(0), MaxValueValidator(7 * 86400)]
    )
    # Finished jobs older than this are pruned.
    retention_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="space_slug_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.slug}"


class SpaceSettings(models.Model):
    """Outbound notifications of a space: Slack, HTTP push, and the callback signing secret."""

    space = models.OneToOneField(
        Space, on_delete=models.CASCADE, primary_key=True, related_name="settings"
    )
    slack_webhook_url = models.URLField(max_length=2048, blank=True)
    slack_events = models.JSONField(default=list, blank=True)  # subset of SLACK_EVENTS
    push_url = models.URLField(max_length=2048, blank=True)
    push_headers = models.JSONField(default=dict, blank=True)  # header name -> value
    push_names = models.JSONField(default=list, blank=True)  # job names; empty = all
    # Signs job callbacks (X-Emitrun-Signature) for jobs without a secret of their own.
    callback_secret = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    SLACK_EVENTS = ("created", "started", "completed", "failed", "dead", "killed")

    class Meta:
        verbose_name_plural = "space settings"

    def __str__(self) -> str:
        return f"settings of {self.space}"


class ApiToken(models.Model):
    """A space-scoped API token. Only a hash of the secret is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True)  # shown to tell tokens apart
    secret_hash = models.CharField(max_length=64, unique=True)  # sha256 hex of the secret
    scopes = models.JSONField(default=list)  # expanded granular scopes
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class AuditEntry(models.Model):
    """Who did what to a space or organization: kills, retries, purges, settings, tokens,
    members. Written in the same transaction as the change it records."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    space = models.ForeignKey(
        Space, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor = models.CharField(max_length=200)  # "user:ana@example.com", "token:ci (emr_ab12)"
    action = models.CharField(max_length=50)  # "job.kill", "token.create", ...
    target = models.CharField(max_length=200, blank=True)  # a job id, a token prefix, ...
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["space", "-created_at"], name="audit_space_idx"),
            models.Index(fields=["organization", "-created_at"], name="audit_org_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target}"

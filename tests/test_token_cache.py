"""Verified API tokens are reused briefly, and never after a revocation or space change."""

import time
from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import Job
from spaces import actions as space_actions
from spaces import token_cache
from spaces.models import ApiToken
from tests.conftest import client_with, create_job
from tests.test_background_celery import database_url


def issue(space, scopes=("jobs:admin",)):
    return space_actions.issue_token(space=space, name="cache", scopes=list(scopes))


def token_reads(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/api/v1/jobs").status_code == 200
    return sum('FROM "spaces_apitoken"' in q["sql"] for q in ctx.captured_queries)


def test_a_verified_token_is_not_read_again(space):
    _, secret = issue(space)
    client = client_with(secret)
    assert token_reads(client) == 1
    assert token_reads(client) == 0


@override_settings(EMITRUN_TOKEN_CACHE_SECONDS=0)
def test_a_zero_lifetime_turns_the_cache_off(space):
    client = client_with(issue(space)[1])
    assert [token_reads(client), token_reads(client)] == [1, 1]


def test_revoking_refuses_the_token_at_once(space):
    token, secret = issue(space)
    client = client_with(secret)
    assert token_reads(client) == 1
    space_actions.revoke_token(token)
    r = client.get("/api/v1/jobs")
    assert (r.status_code, r.json()["code"]) == (401, "UNAUTHENTICATED")


def test_a_revocation_announced_by_another_process_evicts_the_token(space):
    token, secret = issue(space)
    client = client_with(secret)
    assert client.get("/api/v1/jobs").status_code == 200
    # Another process revoked it: the row changed, and it announced the space.
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    deadline = time.monotonic() + 10
    with psycopg.connect(database_url(), autocommit=True) as other:
        while client.get("/api/v1/jobs").status_code == 200:
            assert time.monotonic() < deadline, "the announcement never evicted the token"
            other.execute("SELECT pg_notify(%s, %s)", [token_cache.CHANNEL, str(space.pk)])
            time.sleep(0.1)
    assert client.get("/api/v1/jobs").status_code == 401


def test_an_unannounced_change_is_stale_for_the_cache_lifetime_at_most(space):
    token, secret = issue(space)
    client = client_with(secret)
    assert client.get("/api/v1/jobs").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert client.get("/api/v1/jobs").status_code == 200
    later = timezone.now() + timedelta(seconds=11)
    with time_machine.travel(later):
        assert client.get("/api/v1/jobs").status_code == 401


def test_a_space_change_is_seen_by_the_next_request(space):
    client = client_with(issue(space)[1])
    assert client.get("/api/v1/jobs").status_code == 200
    space_actions.update_space(space, delivery_timeout_seconds=77)
    create_job(space)
    r = client.post(f"/api/v1/spaces/{space.pk}/jobs/poll", {"limit": 1}, format="json")
    (job,) = r.json()["jobs"]
    delivered = Job.objects.get(pk=job["id"]).delivered_at
    assert parse_datetime(job["lease_expires_at"]) - delivered == timedelta(seconds=77)


@pytest.mark.parametrize("bad", ["emr_" + "x" * 43, "emr_short", "nope"])
def test_unknown_secrets_are_never_cached(space, bad):
    client = client_with(bad)
    for _ in range(2):
        assert client.get("/api/v1/jobs").status_code == 401
    assert token_cache.get("0" * 64) is None

"""Personas and clients: a space and a foreign space, owner/member/stranger users, tokens
made through the real token code, and API clients holding them.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from jobs import lifecycle, wakeup
from jobs.models import Job
from orgs.models import Membership, Role
from spaces import actions as space_actions
from spaces.models import Space
from tests.factories import OrganizationFactory, SpaceFactory, UserFactory


@pytest.fixture(scope="session", autouse=True)
def _close_wakeup_listener(django_db_setup, django_db_blocker):
    # Torn down before the test database is dropped: the listener holds a connection to it.
    yield
    wakeup.stop()
    _drop_kicked_messages()


def _drop_kicked_messages() -> None:
    """Deliveries kicked after commits in tests queue messages nobody consumes."""
    import redis
    from django.conf import settings

    if settings.REDIS_URL and settings.CELERY_TASK_DEFAULT_QUEUE != "emitrun":
        redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)


@pytest.fixture
def org(db):
    return OrganizationFactory()


@pytest.fixture
def space(org) -> Space:
    return SpaceFactory(organization=org)


@pytest.fixture
def other_space(db) -> Space:
    """A space of another organization: nothing of it may be reachable from `space`."""
    return SpaceFactory()


@pytest.fixture
def owner(org):
    user = UserFactory()
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)
    return user


@pytest.fixture
def member(org):
    user = UserFactory()
    Membership.objects.create(user=user, organization=org, role=Role.MEMBER)
    return user


@pytest.fixture
def stranger(db):
    return UserFactory()


def client_with(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    client.default_format = "json"
    return client


@pytest.fixture
def make_client(space) -> Callable[..., APIClient]:
    """make_client("jobs:worker", space=...) -> an APIClient holding a fresh token."""

    def make(*scopes: str, space: Space = space) -> APIClient:
        _, secret = space_actions.issue_token(space=space, name="test", scopes=list(scopes))
        client = client_with(secret)
        client.secret = secret
        return client

    return make


@dataclass
class Clients:
    producer: APIClient
    worker: APIClient
    operator: APIClient
    admin: APIClient
    foreign: APIClient  # a jobs:admin token of other_space


@pytest.fixture
def api(make_client, other_space) -> Clients:
    return Clients(
        producer=make_client("jobs:create", "jobs:read"),
        worker=make_client("jobs:worker"),
        operator=make_client("jobs:kill", "jobs:manage", "jobs:read"),
        admin=make_client("jobs:admin"),
        foreign=make_client("jobs:admin", space=other_space),
    )


SYSTEM = lifecycle.Actor.system("test")


def create_job(space: Space, name: str = "work", **fields: object) -> Job:
    return lifecycle.create(space, lifecycle.JobSpec(name=name, **fields), actor=SYSTEM).job


@pytest.fixture
def pending_job(space) -> Job:
    return create_job(space, payload={"n": 1})


@pytest.fixture
def delivered_job(space, pending_job) -> Job:
    (job,) = lifecycle.poll(space, limit=1, worker_id="w-1", actor=SYSTEM)
    return job


@pytest.fixture
def running_job(delivered_job) -> Job:
    return lifecycle.ack(delivered_job, actor=SYSTEM, lease_id=str(delivered_job.lease_id))

"""Personas and clients for dashboard pages (Django's test client, signed in)."""

import pytest
from django.test import Client

from orgs.models import Membership, Role
from tests.factories import UserFactory


@pytest.fixture
def admin_user(org):
    user = UserFactory()
    Membership.objects.create(user=user, organization=org, role=Role.ADMIN)
    return user


def signed_in(user, *, csrf: bool = False) -> Client:
    """A browser-like client with `user`'s session; csrf=True enforces CSRF tokens."""
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner) -> Client:
    return signed_in(owner)


@pytest.fixture
def member_client(member) -> Client:
    return signed_in(member)


@pytest.fixture
def stranger_client(stranger) -> Client:
    return signed_in(stranger)


HTMX = {"HTTP_HX_REQUEST": "true"}  # what htmx sends: the view answers a partial

"""Factories for the things around jobs. Jobs themselves reach a state only through
the lifecycle (see conftest fixtures), never by setting a status.
"""

import factory

from orgs import actions as org_actions
from orgs.models import Organization, User
from spaces import actions as space_actions
from spaces.models import Space


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")


class OrganizationFactory(factory.Factory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")

    @classmethod
    def _create(cls, model_class: type, **kwargs: object) -> Organization:
        return org_actions.create_organization(**kwargs)


class SpaceFactory(factory.Factory):
    class Meta:
        model = Space

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Space {n}")
    # Fast retries by default so tests that fail jobs need not wait.
    backoff_base_seconds = 0.0
    backoff_cap_seconds = 0.0

    @classmethod
    def _create(cls, model_class: type, **kwargs: object) -> Space:
        return space_actions.create_space(**kwargs)

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from orgs.models import Membership, Organization, User
from spaces import tokens
from spaces.models import ApiToken, Space


def run(*args: str) -> dict:
    out = StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_provision_org_space_and_token_then_use_the_token():
    org = run("createorg", "Acme Inc", "--owner", "ops@acme.test")
    assert org["slug"] == "acme-inc"
    assert org["owner"] == "ops@acme.test"
    assert Membership.objects.get(user__email="ops@acme.test").role == "owner"
    space = run(
        "createspace",
        "acme-inc",
        "Production",
        "--delivery-timeout",
        "5",
        "--backoff-base",
        "0.5",
        "--backoff-cap",
        "10",
        "--retention-days",
        "7",
    )
    row = Space.objects.get(pk=space["id"])
    assert (
        row.delivery_timeout_seconds,
        row.backoff_base_seconds,
        row.backoff_cap_seconds,
        row.retention_days,
    ) == (5, 0.5, 10.0, 7)
    tok = run("createtoken", space["id"], "--name", "ci", "--scopes", "jobs:worker,jobs:create")
    assert "jobs:poll" in tok["scopes"]
    assert "jobs:create" in tok["scopes"]
    stored = ApiToken.objects.get(pk=tok["id"])
    assert stored.secret_hash == tokens.hash_secret(tok["secret"])
    assert tok["secret"] not in json.dumps(list(ApiToken.objects.values()), default=str)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ("createspace", "no-such-org", "x"),
        ("createtoken", "not-a-uuid", "--name", "x", "--scopes", "jobs:read"),
    ],
)
def test_commands_refuse_unknown_targets(args):
    with pytest.raises(CommandError):
        run(*args)


@pytest.mark.django_db
def test_createtoken_refuses_unknown_scopes(space):
    with pytest.raises(CommandError, match="unknown scope"):
        run("createtoken", str(space.id), "--name", "x", "--scopes", "jobs:everything")
    assert not ApiToken.objects.filter(space=space).exists()


@pytest.mark.django_db
def test_createspace_refuses_bad_knobs(org):
    with pytest.raises(CommandError, match="delivery_timeout_seconds"):
        run("createspace", org.slug, "x", "--delivery-timeout", "0")
    assert not Space.objects.filter(organization=org).exists()


@pytest.mark.django_db
def test_seeddemo_seeds_once_and_prints_working_credentials(client):
    first = run("seeddemo")
    assert first["seeded"] is True
    assert run("seeddemo")["seeded"] is False
    assert Organization.objects.count() == 1
    admin = User.objects.get(email=first["login"])
    assert admin.check_password(first["password"])
    assert admin.is_superuser
    r = client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {first['token']}")
    assert r.status_code == 200

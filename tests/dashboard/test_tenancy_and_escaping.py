"""Every dashboard page and action, by a signed-in owner of one organization, against the
objects of another organization: always 404, never data, never a change. Built from the URL
resolver, so a new page joins the matrix by existing. And hostile strings (HTML, script)
in names, payloads, tags and errors come out escaped on every page that shows them.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from jobs import lifecycle
from jobs.models import Job
from orgs.models import Membership, Role
from spaces.actions import issue_token
from spaces.models import ApiToken, Space
from tests.conftest import SYSTEM, create_job
from tests.dashboard.conftest import signed_in
from tests.factories import OrganizationFactory, SpaceFactory, UserFactory


def dashboard_routes() -> list[str]:
    """Every route whose path names an organization (`<slug:org>`)."""
    found: list[str] = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                if "<slug:org>" in route:
                    found.append(route)

    walk(get_resolver().url_patterns, "")
    return found


ROUTES = dashboard_routes()


def fill(route: str, values: dict[str, object]) -> str:
    def value(match: re.Match) -> str:
        return str(values[match.group(1)])

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)


@pytest.fixture
def victim(other_space):
    """Another organization's space with a running job, a dead job, a token, a member."""
    job = create_job(other_space, "work", payload={"secret": "their-payload"})
    (delivered,) = lifecycle.poll(other_space, limit=1, names=["work"], actor=SYSTEM)
    lifecycle.ack(delivered, actor=SYSTEM)
    create_job(other_space, "gone", max_retries=0)
    (d,) = lifecycle.poll(other_space, limit=1, names=["gone"], actor=SYSTEM)
    lifecycle.fail(lifecycle.ack(d, actor=SYSTEM), error="boom", actor=SYSTEM)
    token, _ = issue_token(space=other_space, name="theirs", scopes=["jobs:admin"])
    their_member = Membership.objects.create(
        user=UserFactory(), organization=other_space.organization, role=Role.MEMBER
    )
    return {
        "org": other_space.organization.slug,
        "space": other_space.slug,
        "job_id": job.pk,
        "token_id": token.pk,
        "member_id": their_member.pk,
        "name": "work",
        "kind": "slack",
    }


def state(space: Space) -> tuple:
    return (
        sorted(Job.objects.filter(space=space).values_list("id", "status", "updated_at")),
        sorted(ApiToken.objects.filter(space=space).values_list("id", "revoked_at")),
        sorted(
            Membership.objects.filter(organization=space.organization).values_list("id", "role")
        ),
        Space.objects.filter(pk=space.pk).values_list("name", "slug").first(),
    )


def test_the_matrix_covers_every_kind_of_page():
    assert len(ROUTES) >= 30
    for fragment in ["jobs/<uuid:job_id>/kill/", "tokens/<uuid:token_id>/revoke/", "members/"]:
        assert any(fragment in r for r in ROUTES), fragment


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES)
def test_another_organizations_objects_are_404_for_every_page_and_action(
    route, owner, space, other_space, victim
):
    client = signed_in(owner)  # owner of `space`'s organization, a stranger to other_space's
    before = state(other_space)
    url = fill(route, victim)
    # 405 (a method the page never takes, answered before any lookup) says nothing of
    # the object; every method the page takes must answer 404.
    statuses = []
    for method in (client.get, client.post):
        r = method(url)
        statuses.append(r.status_code)
        assert r.status_code in (404, 405), (method.__name__, url, r.status_code)
        assert b"their-payload" not in r.content
    assert 404 in statuses, (url, statuses)
    # The same object through the owner's own organization and space: still not found.
    if "<uuid:job_id>" in route or "<uuid:token_id>" in route:
        mine = dict(victim, org=space.organization.slug, space=space.slug)
        for method in (client.get, client.post):
            r = method(fill(route, mine))
            assert r.status_code in (404, 405), (method.__name__, route, r.status_code)
    assert state(other_space) == before


HOSTILE = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'


@pytest.mark.django_db
def test_hostile_strings_are_escaped_on_every_page_that_shows_them():
    user = UserFactory()
    org = OrganizationFactory(name=f"Org {HOSTILE}")
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)
    space = SpaceFactory(organization=org, name=f"Space {IMG}")
    issue_token(space=space, name=f"token {HOSTILE}", scopes=["jobs:read"], actor="system")
    job = create_job(space, "work", payload={"note": HOSTILE, IMG: 1}, tags=[IMG], max_retries=0)
    (d,) = lifecycle.poll(space, limit=1, names=["work"], actor=SYSTEM)
    running = lifecycle.ack(d, actor=SYSTEM)
    lifecycle.progress(running, percent=10, message=HOSTILE, actor=SYSTEM)
    lifecycle.fail(Job.objects.get(pk=job.pk), error=f"failed: {HOSTILE}", actor=SYSTEM)

    client = signed_in(user)
    base = f"/o/{org.slug}/s/{space.slug}/"
    pages = [
        "/",
        f"/o/{org.slug}/",
        f"/o/{org.slug}/members/",
        base,
        f"{base}jobs/",
        f"{base}jobs/?q=script",
        f"{base}jobs/{job.pk}/",
        f"{base}dead/",
        f"{base}tokens/",
        f"{base}audit/",
        f"{base}edit/",
    ]
    for page in pages:
        r = client.get(page)
        assert r.status_code == 200, (page, r.status_code)
        html = r.content.decode()
        assert "<script>alert(" not in html, page
        assert "<img src=x" not in html, page
    detail = client.get(f"{base}jobs/{job.pk}/").content.decode()
    assert "&lt;script&gt;alert(" in detail  # shown, as text

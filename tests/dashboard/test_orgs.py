import pytest
from django.test import Client

from jobs import lifecycle
from orgs.models import Membership, Organization, Role
from spaces.models import AuditEntry, Space
from tests.conftest import create_job
from tests.dashboard.conftest import HTMX, signed_in


def org_urls(org, member_id: int = 1) -> list[str]:
    base = f"/o/{org.slug}"
    return [
        f"{base}/",
        f"{base}/members/",
        f"{base}/spaces/new/",
        f"{base}/members/{member_id}/role/",
        f"{base}/members/{member_id}/remove/",
    ]


@pytest.mark.django_db
def test_home_signed_out_is_a_landing_with_sign_in_and_sign_up():
    body = Client().get("/").content.decode()
    assert 'href="/accounts/login/"' in body
    assert 'href="/accounts/signup/"' in body


@pytest.mark.django_db
def test_home_without_organizations_offers_to_create_one(stranger):
    body = signed_in(stranger).get("/").content.decode()
    assert 'for="id_name">Organization name<' in body
    assert "Create organization" in body


def test_home_lists_your_organizations_and_their_spaces(owner_client, org, space, other_space):
    body = owner_client.get("/").content.decode()
    assert f'href="/o/{org.slug}/s/{space.slug}/"' in body
    assert other_space.organization.name not in body
    assert 'id="id_name"' not in body


@pytest.mark.django_db
def test_creating_an_organization_makes_you_its_owner(stranger):
    client = signed_in(stranger, csrf=False)
    r = client.post("/orgs/new/", {"name": "  Acme Rockets "})
    org = Organization.objects.get(name="Acme Rockets")
    assert (r.status_code, r["Location"]) == (302, f"/o/{org.slug}/")
    assert Membership.objects.get(organization=org).user == stranger
    assert Membership.objects.get(organization=org).role == Role.OWNER


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_an_organization_needs_a_name(stranger, name):
    r = signed_in(stranger).post("/orgs/new/", {"name": name})
    assert r.status_code == 422
    assert 'id="id_name-error"' in r.content.decode()
    assert Organization.objects.count() == 0


@pytest.mark.django_db
def test_organization_forms_need_csrf_and_a_signed_in_user(stranger):
    assert Client().post("/orgs/new/", {"name": "A"})["Location"].startswith("/accounts/login/")
    r = signed_in(stranger, csrf=True).post("/orgs/new/", {"name": "A"})
    assert r.status_code == 403
    assert Organization.objects.count() == 0


def test_every_organization_url_is_404_for_a_stranger(stranger_client, org, owner):
    member_id = Membership.objects.get(user=owner).pk
    for url in org_urls(org, member_id):
        assert stranger_client.get(url).status_code == 404, url
        assert stranger_client.post(url, {"role": "member"}).status_code == 404, url
    assert Membership.objects.filter(organization=org).count() == 1


def test_an_unknown_organization_is_404_like_a_foreign_one(owner_client):
    assert owner_client.get("/o/no-such-org/").status_code == 404


def test_org_page_lists_spaces_with_counts_per_status(owner_client, owner, org, space):
    create_job(space, "mail.send")
    job = create_job(space, "mail.send")
    lifecycle.cancel(job, actor=lifecycle.Actor.user(owner))
    body = owner_client.get(f"/o/{org.slug}/").content.decode()
    assert f'<tr data-space="{space.slug}">' in body
    assert '<td class="num" data-status="pending">1</td>' in body
    assert '<td class="num" data-status="cancelled">1</td>' in body
    assert 'id="new-space"' in body
    assert 'hx-trigger="every 5s [' in body


def test_org_page_counts_are_an_htmx_partial(owner_client, org, space, other_space):
    create_job(other_space, "elsewhere")
    create_job(space, "here")
    r = owner_client.get(f"/o/{org.slug}/", **HTMX)
    body = r.content.decode()
    assert r.status_code == 200
    assert body.lstrip().startswith('<div id="space-counts"')
    assert "<html" not in body
    assert '<td class="num" data-status="pending">1</td>' in body
    assert f'data-space="{other_space.slug}"' not in body


def test_members_see_the_org_page_but_not_the_new_space_link(member_client, org, space):
    body = member_client.get(f"/o/{org.slug}/").content.decode()
    assert space.name in body
    assert 'id="new-space"' not in body


def test_new_space_form_has_the_labelled_fields(owner_client, org):
    body = owner_client.get(f"/o/{org.slug}/spaces/new/").content.decode()
    for label in (
        "Space name",
        "Slug (optional)",
        "Delivery timeout (seconds)",
        "Retention (days)",
    ):
        assert f">{label}</label>" in body
    assert "Create space" in body


def test_creating_a_space_goes_to_its_overview_and_is_audited(owner_client, owner, org):
    data = {"name": "Billing Jobs", "slug": "", "delivery_timeout_seconds": 45, "retention_days": 7}
    r = owner_client.post(f"/o/{org.slug}/spaces/new/", data)
    space = Space.objects.get(organization=org, name="Billing Jobs")
    assert (r.status_code, r["Location"]) == (302, f"/o/{org.slug}/s/billing-jobs/")
    assert (space.delivery_timeout_seconds, space.retention_days) == (45, 7)
    entry = AuditEntry.objects.get(action="space.create")
    assert (entry.actor, entry.space, entry.target) == (
        f"user:{owner.email}",
        space,
        "billing-jobs",
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"slug": "not a slug!"}, "slug"),
        ({"delivery_timeout_seconds": 0}, "delivery_timeout_seconds"),
        ({"delivery_timeout_seconds": "soon"}, "delivery_timeout_seconds"),
        ({"retention_days": 3651}, "retention_days"),
    ],
)
def test_a_bad_space_field_is_shown_and_nothing_is_made(owner_client, org, changes, field):
    data = {"name": "Jobs", "slug": "", "delivery_timeout_seconds": 30, "retention_days": 30}
    r = owner_client.post(f"/o/{org.slug}/spaces/new/", {**data, **changes})
    assert r.status_code == 422
    assert f'id="id_{field}-error"' in r.content.decode()
    assert not Space.objects.filter(organization=org).exists()


def test_a_taken_slug_is_refused(owner_client, org, space):
    data = {
        "name": "Copy",
        "slug": space.slug,
        "delivery_timeout_seconds": 30,
        "retention_days": 30,
    }
    r = owner_client.post(f"/o/{org.slug}/spaces/new/", data)
    assert r.status_code == 422
    assert "already taken" in r.content.decode()
    assert Space.objects.filter(organization=org).count() == 1


def test_a_member_cannot_create_spaces(member_client, org):
    data = {"name": "Mine", "delivery_timeout_seconds": 30, "retention_days": 30}
    assert member_client.get(f"/o/{org.slug}/spaces/new/").status_code == 403
    assert member_client.post(f"/o/{org.slug}/spaces/new/", data).status_code == 403
    assert not Space.objects.filter(organization=org).exists()

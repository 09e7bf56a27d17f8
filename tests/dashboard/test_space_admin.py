import pytest
from django.urls import reverse

from jobs import lifecycle
from jobs.models import Job
from spaces import actions, audit
from spaces.models import AuditEntry, Space
from tests.conftest import create_job
from tests.dashboard.conftest import HTMX, signed_in

pytestmark = pytest.mark.django_db


def url(space, name="spaces:edit"):
    return reverse(name, args=[space.organization.slug, space.slug])


def knobs(space, **changes):
    return {
        "name": space.name,
        "delivery_timeout_seconds": space.delivery_timeout_seconds,
        "retention_days": space.retention_days,
        "backoff_base_seconds": space.backoff_base_seconds,
        "backoff_cap_seconds": space.backoff_cap_seconds,
        **changes,
    }


# --- Rename -----------------------------------------------------------------------------


def test_member_reads_the_space_page_without_forms_to_change_it(member_client, space):
    body = member_client.get(url(space)).content.decode()
    assert space.name in body
    assert "disabled" in body
    assert 'id="space-save"' not in body
    assert 'id="space-delete-form"' not in body


def test_stranger_gets_404(stranger_client, space):
    assert stranger_client.get(url(space)).status_code == 404
    r = stranger_client.post(url(space), knobs(space, name="Mine"), **HTMX)
    assert r.status_code == 404
    r = stranger_client.post(url(space, "spaces:delete"), {"confirm_slug": space.slug})
    assert r.status_code == 404
    assert Space.objects.get(pk=space.pk).name == space.name


def test_member_may_not_rename_or_delete(member_client, space):
    assert member_client.post(url(space), knobs(space, name="Mine"), **HTMX).status_code == 403
    r = member_client.post(url(space, "spaces:delete"), {"confirm_slug": space.slug})
    assert r.status_code == 403
    assert Space.objects.get(pk=space.pk).name == space.name


def test_rename_answers_the_partial_and_audits_only_what_changed(owner, owner_client, space):
    r = owner_client.post(url(space), knobs(space, name="Billing", retention_days=7), **HTMX)
    body = r.content.decode()
    assert r.status_code == 200
    assert 'id="space-saved"' in body
    assert "<html" not in body
    space.refresh_from_db()
    assert (space.name, space.retention_days) == ("Billing", 7)
    entry = AuditEntry.objects.get(action="space.update")
    assert entry.actor == f"user:{owner.email}"
    assert entry.details == {"name": "Billing", "retention_days": 7}


def test_rename_without_htmx_redirects_back(admin_user, space):
    r = signed_in(admin_user).post(url(space), knobs(space, name="Renamed"))
    assert (r.status_code, r["Location"]) == (302, url(space))
    assert Space.objects.get(pk=space.pk).name == "Renamed"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "  "}, "id_name"),
        ({"delivery_timeout_seconds": 0}, "id_delivery_timeout_seconds"),
        ({"retention_days": 5000}, "id_retention_days"),
        ({"retention_days": "soon"}, "id_retention_days"),
        ({"backoff_base_seconds": 100, "backoff_cap_seconds": 10}, "id_backoff_cap_seconds"),
    ],
)
def test_bad_values_come_back_inline_and_nothing_changes(owner_client, space, changes, field):
    before = knobs(space)
    r = owner_client.post(url(space), knobs(space, **changes), **HTMX)
    assert r.status_code == 422
    assert f'id="{field}-error" class="field-error"' in r.content.decode()
    space.refresh_from_db()
    assert knobs(space) == before
    assert not AuditEntry.objects.filter(action="space.update").exists()


# --- Delete -----------------------------------------------------------------------------


def test_delete_needs_the_slug_typed(owner_client, space):
    r = owner_client.post(url(space, "spaces:delete"), {"confirm_slug": "nope"})
    assert r.status_code == 422
    assert 'id="id_confirm_slug-error"' in r.content.decode()
    assert Space.objects.filter(pk=space.pk).exists()


def test_delete_removes_the_space_and_its_jobs_and_lands_on_the_org(owner, space, pending_job):
    client = signed_in(owner)
    r = client.post(url(space, "spaces:delete"), {"confirm_slug": space.slug})
    assert (r.status_code, r["Location"]) == (302, f"/o/{space.organization.slug}/")
    assert not Space.objects.filter(pk=space.pk).exists()
    assert not Job.objects.filter(pk=pending_job.pk).exists()
    entry = AuditEntry.objects.get(action="space.delete")
    assert (entry.actor, entry.target, entry.organization_id) == (
        f"user:{owner.email}",
        space.slug,
        space.organization_id,
    )


def test_delete_needs_post(owner_client, space):
    assert owner_client.get(url(space, "spaces:delete")).status_code == 405


def test_delete_needs_csrf(owner, space):
    r = signed_in(owner, csrf=True).post(url(space, "spaces:delete"), {"confirm_slug": space.slug})
    assert r.status_code == 403
    assert Space.objects.filter(pk=space.pk).exists()


# --- Audit log --------------------------------------------------------------------------


def test_audit_log_shows_who_did_what_newest_first(owner, member_client, space, running_job):
    lifecycle.kill(running_job, actor=lifecycle.Actor.user(owner))
    actions.issue_token(
        space=space, name="ci", scopes=["jobs:read"], actor=lifecycle.Actor.user(owner)
    )
    body = member_client.get(url(space, "spaces:audit")).content.decode()
    assert f"user:{owner.email}" in body
    assert body.index('data-action="token.create"') < body.index('data-action="job.kill"')
    assert "jobs:read" in body
    assert str(running_job.pk) in body


def test_audit_log_is_paginated(owner_client, space):
    for n in range(55):
        audit.record("user:bulk@example.com", "job.retry", space=space, target=f"job-{n:02d}")
    first = owner_client.get(url(space, "spaces:audit")).content.decode()
    assert "job-54" in first
    assert "job-04" not in first
    assert "Page 1 of 2" in first
    second = owner_client.get(url(space, "spaces:audit") + "?page=2", **HTMX)
    body = second.content.decode()
    assert second.status_code == 200
    assert 'id="audit-entries"' in body
    assert "<html" not in body
    assert "job-04" in body
    assert "job-54" not in body


def test_audit_log_shows_only_this_space(owner_client, space, other_space):
    audit.record("user:x@example.com", "job.kill", space=other_space, target="theirs")
    job = create_job(space)
    audit.record("user:x@example.com", "job.kill", space=space, target=str(job.pk))
    body = owner_client.get(url(space, "spaces:audit")).content.decode()
    assert str(job.pk) in body
    assert "theirs" not in body


def test_audit_log_of_a_foreign_space_is_404(stranger_client, space):
    assert stranger_client.get(url(space, "spaces:audit")).status_code == 404

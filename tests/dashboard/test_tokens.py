import re

import pytest
from django.urls import reverse

from spaces import actions, tokens
from spaces.models import ApiToken, AuditEntry
from tests.dashboard.conftest import HTMX, signed_in

pytestmark = pytest.mark.django_db

SECRET_RE = re.compile(r'<code id="token-secret" class="secret">(emr_[^<]+)</code>')


def url(space, name="spaces:tokens", *args):
    return reverse(name, args=[space.organization.slug, space.slug, *args])


def create(client, space, **data):
    body = {"name": "image worker", "scopes": ["jobs:worker"], "expires_in_days": "", **data}
    return client.post(url(space), body, **HTMX)


def test_member_sees_the_list_but_no_create_form(member_client, space):
    actions.issue_token(space=space, name="ci", scopes=["jobs:read"])
    r = member_client.get(url(space))
    body = r.content.decode()
    assert r.status_code == 200
    assert "ci" in body
    assert "jobs:read" in body
    assert 'id="token-form"' not in body
    assert "Revoke" not in body


def test_owner_sees_every_scope_with_its_description(owner_client, space):
    body = owner_client.get(url(space)).content.decode()
    for dom_id in ("scope-jobs-admin", "scope-jobs-worker", "scope-jobs-read-progress"):
        assert f'id="{dom_id}"' in body
    assert "Read job progress via API or single-job WebSocket stream only" in body
    assert 'id="token-create-submit"' in body


def test_stranger_gets_404_everywhere(stranger_client, space):
    token, _ = actions.issue_token(space=space, name="ci", scopes=["jobs:read"])
    assert stranger_client.get(url(space)).status_code == 404
    assert create(stranger_client, space).status_code == 404
    revoke = url(space, "spaces:token_revoke", token.pk)
    assert stranger_client.post(revoke, **HTMX).status_code == 404
    assert ApiToken.objects.filter(space=space).count() == 1
    assert ApiToken.objects.get().revoked_at is None


def test_anonymous_is_sent_to_sign_in(client, space):
    r = client.get(url(space))
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/")


def test_member_may_not_create_or_revoke(member_client, space):
    token, _ = actions.issue_token(space=space, name="ci", scopes=["jobs:read"])
    assert create(member_client, space).status_code == 403
    assert member_client.post(url(space, "spaces:token_revoke", token.pk)).status_code == 403
    assert list(ApiToken.objects.values_list("name", "revoked_at")) == [("ci", None)]


def test_created_secret_is_shown_once_and_stored_hashed(owner, space):
    client = signed_in(owner, csrf=False)
    r = create(client, space, scopes=["jobs:worker", "jobs:create"])
    assert r.status_code == 201
    assert "no-store" in r["Cache-Control"]
    body = r.content.decode()
    secret = SECRET_RE.search(body).group(1)
    token = ApiToken.objects.get(space=space)
    assert token.secret_hash == tokens.hash_secret(secret)
    assert secret not in token.secret_hash
    assert token.prefix == secret[:12]
    assert token.created_by == owner
    assert "jobs:create" in token.scopes
    assert "jobs:poll" in token.scopes
    assert 'hx-swap-oob="true"' in body
    assert f'data-token-id="{token.pk}"' in body
    assert 'data-copy="#token-secret"' in body
    later = client.get(url(space)).content.decode()
    assert secret not in later
    assert token.prefix in later


def test_the_secret_works_against_the_api(owner_client, space):
    body = create(owner_client, space, scopes=["jobs:read"]).content.decode()
    secret = SECRET_RE.search(body).group(1)
    r = owner_client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert r.status_code == 200


def test_expiry_is_set_in_the_future(owner_client, space):
    assert create(owner_client, space, expires_in_days="30").status_code == 201
    token = ApiToken.objects.get(space=space)
    delta = token.expires_at - token.created_at
    assert 29 < delta.total_seconds() / 86400 <= 30


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "id_name-error"),
        ({"name": "x" * 101}, "id_name-error"),
        ({"scopes": []}, "id_scopes-error"),
        ({"scopes": ["jobs:everything"]}, "id_scopes-error"),
        ({"expires_in_days": "12"}, "id_expires_in_days-error"),
    ],
)
def test_bad_input_comes_back_inline_and_nothing_is_made(owner_client, space, data, field):
    r = create(owner_client, space, **data)
    assert r.status_code == 422
    body = r.content.decode()
    assert f'id="{field}"' in body
    assert 'class="field-error"' in body
    assert 'id="token-form"' in body
    assert "<html" not in body
    assert 'id="token-secret"' not in body
    assert not ApiToken.objects.exists()
    assert not AuditEntry.objects.filter(action="token.create").exists()


def test_scopes_picked_before_an_error_stay_picked(owner_client, space):
    body = create(owner_client, space, name="", scopes=["jobs:kill"]).content.decode()
    assert re.search(r'value="jobs:kill" id="scope-jobs-kill" checked', body)
    assert not re.search(r'value="jobs:read" id="scope-jobs-read" checked', body)


def test_without_htmx_the_whole_page_comes_back(owner_client, space):
    r = owner_client.post(url(space), {"name": "ci", "scopes": ["jobs:read"]})
    assert r.status_code == 201
    body = r.content.decode()
    assert "<html" in body
    assert SECRET_RE.search(body)
    assert body.count('id="token-list"') == 1


def test_revoke_marks_the_token_and_audits_it(owner, owner_client, space):
    token, secret = actions.issue_token(space=space, name="ci", scopes=["jobs:read"])
    r = owner_client.post(url(space, "spaces:token_revoke", token.pk), **HTMX)
    assert r.status_code == 200
    assert 'id="token-list"' in r.content.decode()
    assert "revoked" in r.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    entry = AuditEntry.objects.get(action="token.revoke")
    assert (entry.space, entry.target, entry.actor) == (space, token.prefix, f"user:{owner.email}")
    api = owner_client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.status_code == 401


def test_revoke_without_htmx_redirects_back(owner_client, space):
    token, _ = actions.issue_token(space=space, name="ci", scopes=["jobs:read"])
    r = owner_client.post(url(space, "spaces:token_revoke", token.pk))
    assert (r.status_code, r["Location"]) == (302, url(space))


def test_revoke_needs_post(owner_client, space):
    token, _ = actions.issue_token(space=space, name="ci", scopes=["jobs:read"])
    assert owner_client.get(url(space, "spaces:token_revoke", token.pk)).status_code == 405


def test_another_spaces_token_cannot_be_revoked_through_this_one(owner_client, space, other_space):
    foreign, _ = actions.issue_token(space=other_space, name="theirs", scopes=["jobs:read"])
    r = owner_client.post(url(space, "spaces:token_revoke", foreign.pk), **HTMX)
    assert r.status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_create_is_audited_with_the_user_and_no_secret(owner, owner_client, space):
    body = create(owner_client, space).content.decode()
    secret = SECRET_RE.search(body).group(1)
    entry = AuditEntry.objects.get(action="token.create")
    assert entry.actor == f"user:{owner.email}"
    assert entry.space == space
    assert secret not in str(entry.details)
    assert entry.target == secret[:12]


def test_forms_need_a_csrf_token(owner, space):
    client = signed_in(owner, csrf=True)
    assert create(client, space).status_code == 403
    assert not ApiToken.objects.exists()

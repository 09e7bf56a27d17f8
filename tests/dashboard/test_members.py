import re
import threading

import pytest
from django.core import mail
from django.db import connection

from emitrun.errors import Conflict
from orgs import actions
from orgs.models import Membership, Role, User
from spaces.models import AuditEntry
from tests.dashboard.conftest import signed_in
from tests.factories import UserFactory


def members_url(org, suffix: str = "") -> str:
    return f"/o/{org.slug}/members/{suffix}"


def membership(user, org) -> Membership:
    return Membership.objects.get(user=user, organization=org)


def test_everyone_in_the_org_sees_the_members_only_managers_see_forms(
    owner_client, member_client, org, owner, member
):
    body = member_client.get(members_url(org)).content.decode()
    assert f'data-member="{owner.email}" data-role="owner"' in body
    assert f'data-member="{member.email}" data-role="member"' in body
    assert 'id="invite-form"' not in body
    assert 'class="inline role-form"' not in body
    body = owner_client.get(members_url(org)).content.decode()
    assert 'id="invite-form"' in body


def test_inviting_an_existing_user_adds_them_and_tells_them(
    owner_client, owner, org, django_capture_on_commit_callbacks
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        r = owner_client.post(members_url(org), {"email": user.email.upper(), "role": "admin"})
    assert (r.status_code, r["Location"]) == (302, members_url(org))
    assert membership(user, org).role == Role.ADMIN
    entry = AuditEntry.objects.get(action="member.invite")
    assert (entry.actor, entry.target, entry.space) == (f"user:{owner.email}", user.email, None)
    assert entry.details == {"role": "admin", "new_account": False}
    (message,) = mail.outbox
    assert message.to == [user.email]
    assert org.name in message.subject
    assert "/accounts/login/" in message.body


def test_inviting_a_new_address_makes_an_account_that_sets_its_password_by_mail(
    owner_client, org, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        r = owner_client.post(
            members_url(org), {"email": "new.person@example.com", "role": "member"}
        )
    assert r.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert not user.has_usable_password()
    assert membership(user, org).role == Role.MEMBER
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    page = client.get(link, follow=True)
    password = "a brand new secret 7"
    client.post(page.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})
    user.refresh_from_db()
    assert user.check_password(password)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email", "role": "member"}, "email"),
        ({"email": "ok@example.com", "role": "boss"}, "role"),
        ({"email": "", "role": "member"}, "email"),
    ],
)
def test_a_bad_invitation_is_shown_and_changes_nothing(owner_client, org, data, field):
    r = owner_client.post(members_url(org), data)
    assert r.status_code == 422
    assert f'id="id_{field}-error"' in r.content.decode()
    assert Membership.objects.filter(organization=org).count() == 1
    assert not AuditEntry.objects.filter(action="member.invite").exists()


def test_inviting_a_member_twice_is_refused(owner_client, org, member):
    r = owner_client.post(members_url(org), {"email": member.email, "role": "admin"})
    assert r.status_code == 422
    assert "Already a member" in r.content.decode()
    assert membership(member, org).role == Role.MEMBER


def test_a_member_cannot_invite_change_or_remove(member_client, org, owner, member):
    target = membership(owner, org).pk
    assert member_client.post(members_url(org), {"email": "x@example.com"}).status_code == 403
    r = member_client.post(members_url(org, f"{target}/role/"), {"role": "member"})
    assert r.status_code == 403
    assert member_client.post(members_url(org, f"{target}/remove/")).status_code == 403
    assert not User.objects.filter(email="x@example.com").exists()
    assert membership(owner, org).role == Role.OWNER


def test_an_admin_cannot_make_owners(org, admin_user, member):
    client = signed_in(admin_user)
    r = client.post(members_url(org), {"email": "boss@example.com", "role": "owner"})
    assert r.status_code == 403
    r = client.post(members_url(org, f"{membership(member, org).pk}/role/"), {"role": "owner"})
    assert r.status_code == 403
    assert membership(member, org).role == Role.MEMBER
    assert (
        client.post(members_url(org), {"email": "a@example.com", "role": "admin"}).status_code
        == 302
    )


def test_an_admin_is_offered_no_owner_controls(org, admin_user, owner, member):
    body = signed_in(admin_user).get(members_url(org)).content.decode()
    assert f'action="/o/{org.slug}/members/{membership(member, org).pk}/role/"' in body
    assert f'action="/o/{org.slug}/members/{membership(owner, org).pk}/role/"' not in body
    assert f'action="/o/{org.slug}/members/{membership(owner, org).pk}/remove/"' not in body
    assert 'value="owner"' not in body


def test_an_admin_cannot_demote_or_remove_an_owner(org, admin_user, owner):
    client = signed_in(admin_user)
    target = membership(owner, org).pk
    assert client.post(members_url(org, f"{target}/role/"), {"role": "member"}).status_code == 403
    assert client.post(members_url(org, f"{target}/remove/")).status_code == 403
    assert membership(owner, org).role == Role.OWNER


def test_an_owner_changes_roles_and_it_is_audited(owner_client, owner, org, member):
    r = owner_client.post(
        members_url(org, f"{membership(member, org).pk}/role/"), {"role": "owner"}
    )
    assert (r.status_code, r["Location"]) == (302, members_url(org))
    assert membership(member, org).role == Role.OWNER
    entry = AuditEntry.objects.get(action="member.role")
    assert (entry.actor, entry.target) == (f"user:{owner.email}", member.email)
    assert entry.details == {"from": "member", "to": "owner"}


def test_an_invalid_role_is_refused(owner_client, org, member):
    r = owner_client.post(members_url(org, f"{membership(member, org).pk}/role/"), {"role": "god"})
    assert r.status_code == 422
    assert membership(member, org).role == Role.MEMBER


def test_the_last_owner_can_be_neither_demoted_nor_removed(owner_client, owner, org):
    target = membership(owner, org).pk
    r = owner_client.post(members_url(org, f"{target}/role/"), {"role": "admin"})
    assert r.status_code == 409
    assert "last owner" in r.content.decode()
    r = owner_client.post(members_url(org, f"{target}/remove/"))
    assert r.status_code == 409
    assert membership(owner, org).role == Role.OWNER
    assert not AuditEntry.objects.filter(action__in=["member.role", "member.remove"]).exists()


def test_with_two_owners_one_may_step_down(owner_client, owner, org, member):
    actions.change_role(membership(member, org), role="owner", actor=owner)
    r = owner_client.post(members_url(org, f"{membership(owner, org).pk}/remove/"))
    assert (r.status_code, r["Location"]) == (302, "/")
    assert not Membership.objects.filter(user=owner, organization=org).exists()
    entry = AuditEntry.objects.get(action="member.remove")
    assert (entry.target, entry.details) == (owner.email, {"role": "owner"})


def test_removing_a_member_keeps_their_account(owner_client, org, member):
    r = owner_client.post(members_url(org, f"{membership(member, org).pk}/remove/"))
    assert r.status_code == 302
    assert not Membership.objects.filter(user=member, organization=org).exists()
    assert User.objects.filter(pk=member.pk).exists()
    assert signed_in(member).get(f"/o/{org.slug}/").status_code == 404


def test_a_membership_of_another_org_is_404(owner_client, org, other_space):
    foreign = Membership.objects.create(
        user=UserFactory(), organization=other_space.organization, role=Role.MEMBER
    )
    r = owner_client.post(members_url(org, f"{foreign.pk}/remove/"))
    assert r.status_code == 404
    r = owner_client.post(members_url(org, f"{foreign.pk}/role/"), {"role": "admin"})
    assert r.status_code == 404
    assert Membership.objects.filter(pk=foreign.pk, role=Role.MEMBER).exists()


def test_member_changes_are_posts_with_csrf(owner, org, member):
    client = signed_in(owner, csrf=True)
    target = membership(member, org).pk
    assert client.get(members_url(org, f"{target}/remove/")).status_code == 405
    assert client.post(members_url(org, f"{target}/remove/")).status_code == 403
    assert Membership.objects.filter(pk=target).exists()


@pytest.mark.django_db(transaction=True)
def test_two_owners_stepping_down_at_once_leave_one_owner(org, owner):
    other = UserFactory()
    Membership.objects.create(user=other, organization=org, role=Role.OWNER)
    pairs = [(membership(owner, org), owner), (membership(other, org), other)]
    barrier, outcomes = threading.Barrier(2), []

    def demote(target, actor):
        try:
            barrier.wait()
            actions.change_role(target, role="member", actor=actor)
            outcomes.append("ok")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=demote, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["LAST_OWNER", "ok"]
    assert Membership.objects.filter(organization=org, role=Role.OWNER).count() == 1

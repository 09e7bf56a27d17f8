"""The only writer of organizations, memberships and accounts."""

from functools import partial

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.text import slugify

from emitrun.errors import Conflict, Forbidden, NotFound, ValidationFailed
from orgs import mail
from orgs.models import Membership, Organization, Role, User
from spaces import audit


class LastOwner(Conflict):
    code, default_message = "LAST_OWNER", "An organization needs at least one owner"


def unique_slug(model: type, base: str, *, max_length: int = 60, **scope: object) -> str:
    """A slug from `base` not yet used in `model` (within `scope`), with -2, -3... if needed."""
    root = slugify(base)[: max_length - 4].strip("-") or "item"
    slug, n = root, 1
    while model.objects.filter(slug=slug, **scope).exists():
        n += 1
        slug = f"{root}-{n}"
    return slug


def clean_name(name: str, *, field: str = "name") -> str:
    """A display name: trimmed, 1-100 characters."""
    name = str(name).strip()
    if not name or len(name) > 100:
        raise ValidationFailed(f"{field} must be 1-100 characters", {field: ["1-100 characters"]})
    return name


@transaction.atomic
def create_organization(
    *, name: str, owner: User | None = None, slug: str | None = None
) -> Organization:
    """Makes an organization; `owner`, if given, becomes its owner member."""
    name = clean_name(name)
    if slug is not None:
        if slugify(slug) != slug or not slug:
            raise ValidationFailed(
                "slug must be lowercase letters, digits and hyphens", {"slug": ["invalid slug"]}
            )
        if Organization.objects.filter(slug=slug).exists():
            raise ValidationFailed(f"slug {slug!r} is taken", {"slug": ["already taken"]})
    org = Organization.objects.create(name=name, slug=slug or unique_slug(Organization, name))
    if owner is not None:
        Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    return org


def ensure_user(email: str) -> User:
    """The user with this email, made (with no usable password) if new."""
    user = User.objects.filter(email__iexact=email.strip()).first()
    return user or User.objects.create_user(email.strip())


def create_account(*, email: str, password: str) -> User:
    """Signs a person up. The caller has validated the password against Django's password
    validators; the email must not be taken (ValidationFailed otherwise)."""
    email = clean_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationFailed("email is taken", {"email": ["An account with this email exists"]})
    return User.objects.create_user(email, password)


def clean_email(email: str) -> str:
    """A valid email address, trimmed and lowercased; ValidationFailed otherwise."""
    email = str(email).strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed(
            "invalid email", {"email": ["Enter a valid email address"]}
        ) from None
    return email


def _label(user: User) -> str:
    # The same label as jobs' Actor.user, so the audit log names people alike everywhere.
    return f"user:{user.email}"


def _clean_role(role: str) -> Role:
    if role not in Role.values:
        raise ValidationFailed("invalid role", {"role": [f"choose from {', '.join(Role.values)}"]})
    return Role(role)


def _actor_role(organization: Organization, actor: User) -> Role:
    """The acting user's role, read inside the transaction; Forbidden unless a manager."""
    role = (
        Membership.objects.filter(organization=organization, user=actor)
        .values_list("role", flat=True)
        .first()
    )
    if role not in (Role.OWNER, Role.ADMIN):
        raise Forbidden("Only owners and admins can change members")
    return Role(role)


def _lock_for_change(membership: Membership) -> tuple[Membership, int]:
    """The membership re-read under a row lock, with the organization's owner count.

    Owner rows are locked first, in primary-key order, so two owners demoting or removing
    each other at once queue up and the second sees one owner left.
    """
    org = membership.organization
    owners = list(
        Membership.objects.select_for_update()
        .filter(organization=org, role=Role.OWNER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    target = (
        Membership.objects.select_for_update()
        .select_related("user", "organization")
        .filter(pk=membership.pk)
        .first()
    )
    if target is None:
        raise NotFound("No such member")
    return target, len(owners)


def _check_owner_rule(actor_role: Role, *, before: Role, after: Role | None) -> None:
    # Admins manage members and admins; only an owner may make, demote or remove an owner.
    if actor_role != Role.OWNER and Role.OWNER in (before, after):
        raise Forbidden("Only owners can make, change or remove owners")


@transaction.atomic
def invite_member(*, organization: Organization, email: str, role: str, actor: User) -> Membership:
    """Adds the person with this email to the organization, making their account (with no
    password yet) if they have none, and emails them after commit: a link to set a password
    for a new account, a note for an existing one.

    Raises ValidationFailed (bad email or role, already a member) and Forbidden (the actor
    is not an owner/admin, or an admin tries to add an owner).
    """
    email, role = clean_email(email), _clean_role(role)
    _check_owner_rule(_actor_role(organization, actor), before=role, after=role)
    user = User.objects.filter(email__iexact=email).first()
    new_account = user is None
    user = user or User.objects.create_user(email)
    if Membership.objects.filter(organization=organization, user=user).exists():
        raise ValidationFailed("already a member", {"email": ["Already a member"]})
    membership = Membership.objects.create(organization=organization, user=user, role=role)
    audit.record(
        _label(actor),
        "member.invite",
        organization=organization,
        target=email,
        details={"role": role.value, "new_account": new_account},
    )
    transaction.on_commit(partial(mail.send_invitation, membership.pk, invited_by=actor.email))
    return membership


@transaction.atomic
def change_role(membership: Membership, *, role: str, actor: User) -> Membership:
    """Gives a member another role. Raises ValidationFailed (bad role), Forbidden (not a
    manager; an admin touching owners), LastOwner (demoting the only owner), NotFound."""
    role = _clean_role(role)
    target, owners = _lock_for_change(membership)
    before = Role(target.role)
    _check_owner_rule(_actor_role(target.organization, actor), before=before, after=role)
    if before == role:
        return target
    if before == Role.OWNER and owners <= 1:
        raise LastOwner("The last owner cannot be demoted; make another owner first")
    Membership.objects.filter(pk=target.pk).update(role=role)
    target.role = role
    audit.record(
        _label(actor),
        "member.role",
        organization=target.organization,
        target=target.user.email,
        details={"from": before.value, "to": role.value},
    )
    return target


@transaction.atomic
def remove_member(membership: Membership, *, actor: User) -> None:
    """Removes a member (their account stays). Raises Forbidden (not a manager; an admin
    removing an owner), LastOwner (removing the only owner), NotFound."""
    target, owners = _lock_for_change(membership)
    before = Role(target.role)
    _check_owner_rule(_actor_role(target.organization, actor), before=before, after=None)
    if before == Role.OWNER and owners <= 1:
        raise LastOwner("The last owner cannot be removed; make another owner first")
    target.delete()
    audit.record(
        _label(actor),
        "member.remove",
        organization=target.organization,
        target=target.user.email,
        details={"role": before.value},
    )

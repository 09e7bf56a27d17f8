"""The only writer of organizations and memberships."""

from django.db import transaction
from django.utils.text import slugify

from emitrun.errors import ValidationFailed
from orgs.models import Membership, Organization, Role, User


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

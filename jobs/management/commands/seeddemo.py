import secrets
from typing import Any

from django.db import transaction

from emitrun.commands import ProvisioningCommand
from orgs import actions as org_actions
from orgs.models import Organization, User
from spaces import actions as space_actions


class Command(ProvisioningCommand):
    help = (
        "On a fresh database, create a demo organization, space, admin login and API "
        "token, and print them (the password and the token are shown this once)."
    )

    @transaction.atomic
    def run(self, **options: Any) -> dict[str, Any]:
        if Organization.objects.exists():
            return {
                "seeded": False,
                "note": "the database already has organizations; nothing was changed. "
                "Make a token with: manage.py createtoken SPACE_ID --name N "
                "--scopes jobs:admin",
            }
        password = secrets.token_urlsafe(12)
        admin = User.objects.filter(
            email="admin@example.com"
        ).first() or User.objects.create_superuser("admin@example.com")
        admin.set_password(password)
        admin.save(update_fields=["password"])
        org = org_actions.create_organization(name="Demo", owner=admin, slug="demo")
        space = space_actions.create_space(organization=org, name="Production", slug="production")
        _, secret = space_actions.issue_token(
            space=space, name="demo", scopes=["jobs:admin"], created_by=admin
        )
        return {
            "seeded": True,
            "organization": org.slug,
            "space_id": str(space.id),
            "login": admin.email,
            "password": password,
            "token": secret,
        }

from typing import Any

from django.core.management.base import CommandParser

from emitrun.commands import ProvisioningCommand
from orgs import actions


class Command(ProvisioningCommand):
    help = "Create an organization; --owner EMAIL makes that user (created if new) its owner."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("name")
        parser.add_argument("--owner", metavar="EMAIL")
        parser.add_argument("--slug")

    def run(self, **options: Any) -> dict[str, Any]:
        owner = actions.ensure_user(options["owner"]) if options["owner"] else None
        org = actions.create_organization(name=options["name"], owner=owner, slug=options["slug"])
        return {
            "id": str(org.id),
            "name": org.name,
            "slug": org.slug,
            "owner": owner.email if owner else None,
        }

import uuid
from typing import Any

from django.core.management.base import CommandError, CommandParser

from emitrun.commands import ProvisioningCommand
from spaces import actions
from spaces.models import Space


class Command(ProvisioningCommand):
    help = (
        "Create an API token for a space and print its secret (shown this once). "
        "Scopes: granular ones (jobs:create, jobs:read, ...) or shorthands "
        "(jobs:worker, jobs:write, jobs:admin), comma-separated."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("space_id")
        parser.add_argument("--name", required=True)
        parser.add_argument("--scopes", required=True, help="comma-separated scopes")

    def run(self, **options: Any) -> dict[str, Any]:
        try:
            space = Space.objects.get(pk=uuid.UUID(options["space_id"]))
        except (ValueError, Space.DoesNotExist):
            raise CommandError(f"no space with id {options['space_id']!r}") from None
        scopes = [s for s in options["scopes"].split(",") if s.strip()]
        token, secret = actions.issue_token(space=space, name=options["name"], scopes=scopes)
        return {
            "id": str(token.id),
            "space_id": str(space.id),
            "name": token.name,
            "prefix": token.prefix,
            "scopes": token.scopes,
            "secret": secret,
        }

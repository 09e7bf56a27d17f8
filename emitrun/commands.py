"""Shared bits of the provisioning commands: --json output and clear errors."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from emitrun.errors import DomainError


class ProvisioningCommand(BaseCommand):
    """A command that prints a human summary, or one JSON object with --json."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = self.run(**options)
        except DomainError as exc:
            raise CommandError(
                f"{exc.message} {json.dumps(exc.details) if exc.details else ''}".strip()
            ) from None
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, default=str))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key}: {value}")

    def run(self, **options: Any) -> dict[str, Any]:
        raise NotImplementedError

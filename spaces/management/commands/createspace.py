from typing import Any

from django.core.management.base import CommandError, CommandParser

from emitrun.commands import ProvisioningCommand
from orgs.models import Organization
from spaces import actions


class Command(ProvisioningCommand):
    help = "Create a space in an organization (by the organization's slug)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("org_slug")
        parser.add_argument("name")
        parser.add_argument("--slug")
        parser.add_argument(
            "--delivery-timeout",
            type=int,
            metavar="SECONDS",
            help="unacked deliveries go back to pending after this (default 30)",
        )
        parser.add_argument(
            "--backoff-base", type=float, metavar="SECONDS", help="retry backoff base (default 2)"
        )
        parser.add_argument(
            "--backoff-cap",
            type=float,
            metavar="SECONDS",
            help="longest retry backoff (default 3600)",
        )
        parser.add_argument(
            "--retention-days",
            type=int,
            metavar="N",
            help="finished jobs are pruned after N days (default 30)",
        )

    def run(self, **options: Any) -> dict[str, Any]:
        org = Organization.objects.filter(slug=options["org_slug"]).first()
        if org is None:
            raise CommandError(f"no organization with slug {options['org_slug']!r}")
        space = actions.create_space(
            organization=org,
            name=options["name"],
            slug=options["slug"],
            delivery_timeout_seconds=options["delivery_timeout"],
            backoff_base_seconds=options["backoff_base"],
            backoff_cap_seconds=options["backoff_cap"],
            retention_days=options["retention_days"],
        )
        return {
            "id": str(space.id),
            "organization": org.slug,
            "name": space.name,
            "slug": space.slug,
            "delivery_timeout_seconds": space.delivery_timeout_seconds,
            "backoff_base_seconds": space.backoff_base_seconds,
            "backoff_cap_seconds": space.backoff_cap_seconds,
            "retention_days": space.retention_days,
        }

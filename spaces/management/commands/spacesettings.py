from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.management.base import CommandError, CommandParser

from emitrun.commands import ProvisioningCommand
from spaces import actions
from spaces.models import Space, SpaceSettings


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(ProvisioningCommand):
    help = (
        "Show or change a space's notification settings (Slack, HTTP push, callback secret). "
        "Only the options given change; an empty URL turns that channel off."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("space_id")
        parser.add_argument("--slack-url", metavar="URL", help="Slack Incoming Webhook URL")
        parser.add_argument(
            "--slack-events",
            type=_csv,
            metavar="E1,E2",
            help=f"events sent to Slack, among {','.join(SpaceSettings.SLACK_EVENTS)}",
        )
        parser.add_argument("--push-url", metavar="URL", help="HTTP push (worker wake) URL")
        parser.add_argument(
            "--push-header",
            action="append",
            metavar="K=V",
            help="a header sent with every push (repeatable; replaces the saved ones)",
        )
        parser.add_argument(
            "--push-names", type=_csv, metavar="A,B", help="push only for these job names"
        )
        parser.add_argument("--callback-secret", help="signs job callbacks without their own")

    def run(self, **options: Any) -> dict[str, Any]:
        space = self._space(options["space_id"])
        changes = {
            "slack_webhook_url": options["slack_url"],
            "slack_events": options["slack_events"],
            "push_url": options["push_url"],
            "push_headers": self._headers(options["push_header"]),
            "push_names": options["push_names"],
            "callback_secret": options["callback_secret"],
        }
        conf = actions.update_settings(space, **{k: v for k, v in changes.items() if v is not None})
        return {
            "space": str(space.id),
            "slack_webhook_url": conf.slack_webhook_url,
            "slack_events": conf.slack_events,
            "push_url": conf.push_url,
            "push_headers": sorted(conf.push_headers),  # names only: values may be secrets
            "push_names": conf.push_names,
            "callback_secret_set": bool(conf.callback_secret),
        }

    @staticmethod
    def _space(space_id: str) -> Space:
        try:
            space = Space.objects.filter(pk=space_id).first()
        except DjangoValidationError:
            space = None
        if space is None:
            raise CommandError(f"no space with id {space_id!r}")
        return space

    @staticmethod
    def _headers(pairs: list[str] | None) -> dict[str, str] | None:
        if pairs is None:
            return None
        headers = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep or not name.strip():
                raise CommandError(f"--push-header expects K=V, got {pair!r}")
            headers[name.strip()] = value
        return headers

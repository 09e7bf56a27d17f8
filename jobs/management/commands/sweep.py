import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs import lifecycle


class Command(BaseCommand):
    help = (
        "Run the sweeper: due scheduled jobs to pending, unacked deliveries back to "
        "pending, running jobs past their timeout failed as an attempt. Once, or every "
        "--every seconds until interrupted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, metavar="SECONDS")

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            counts = lifecycle.expire_overdue()
            if any(counts.values()) or not options["every"]:
                self.stdout.write(json.dumps(counts))
            if not options["every"]:
                return
            time.sleep(options["every"])

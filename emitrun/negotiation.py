"""Content negotiation for an API that only speaks JSON.

DRF's default negotiation parses the Accept header into media types and matches them
against every renderer on each request. With one renderer and an Accept header that
plainly takes it (none, `*/*`, `application/json`), the answer is known without parsing;
anything else goes through DRF's negotiation (and a client that accepts no JSON still
gets 406 Not Acceptable).
"""

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request

_PLAIN_ACCEPTS = frozenset({"", "*/*", "application/json", "application/json, */*"})


class JSONContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        if (
            len(renderers) == 1
            and not format_suffix
            and request.META.get("HTTP_ACCEPT", "").strip() in _PLAIN_ACCEPTS
            and self.settings.URL_FORMAT_OVERRIDE not in request.GET
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)

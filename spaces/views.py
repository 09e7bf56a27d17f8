"""Dashboard views of one space's tokens, settings and audit log (to be written)."""

from django.http import HttpRequest, HttpResponse


def _todo(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise NotImplementedError


tokens = settings = audit_log = space_edit = _todo

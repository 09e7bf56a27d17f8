"""Dashboard views of accounts, organizations and members (to be written)."""

from django.http import HttpRequest, HttpResponse


def _todo(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    raise NotImplementedError


home = signup = account = org_create = org_detail = members = space_create = _todo

"""Dashboard pages of one space: API tokens, the audit log, rename and delete.
Notification settings are in spaces/settings_views.py. Mounted under o/<org>/s/<space>/.

Every view resolves the space through @org_view (non-member: 404; manage=True and not an
owner or admin: 403) and changes things only through spaces/actions.py, with the signed-in
user as the actor, so the audit log names them.
"""

from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from emitrun.errors import ValidationFailed
from jobs.lifecycle import Actor
from orgs.access import Access, org_view
from spaces import actions, audit, queries
from spaces.forms import SCOPE_CHOICES, SpaceDeleteForm, SpaceForm, TokenForm, add_domain_errors

AUDIT_PAGE_SIZE = 50


# --- API tokens -------------------------------------------------------------------------


@org_view()
def tokens(request: HttpRequest, access: Access) -> HttpResponse:
    """The token list (every member) and the create form (owners and admins; POST)."""
    if request.method == "POST":
        access.require_manager()
        return _token_create(request, access)
    return render(request, "spaces/tokens.html", _tokens_context(access, TokenForm()))


def _token_create(request: HttpRequest, access: Access) -> HttpResponse:
    form = TokenForm(request.POST)
    token = secret = None
    if form.is_valid():
        try:
            token, secret = actions.issue_token(
                space=access.space,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                created_by=request.user,
                expires_at=form.expires_at(),
                actor=Actor.user(request.user),
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
    context = _tokens_context(access, TokenForm() if secret else form, token, secret)
    template = "spaces/tokens.html#create" if request.htmx else "spaces/tokens.html"
    response = render(request, template, context, status=201 if secret else 422)
    # The secret is in this answer and nowhere else: no cache may keep a copy.
    add_never_cache_headers(response)
    return response


@org_view(manage=True)
@require_POST
def token_revoke(request: HttpRequest, access: Access, token_id: UUID) -> HttpResponse:
    token = actions.revoke_token(
        queries.token_for_space(access.space, token_id), actor=Actor.user(request.user)
    )
    if request.htmx:
        return render(request, "spaces/tokens.html#token-list", _tokens_context(access))
    messages.success(request, f"Token {token.name} ({token.prefix}…) revoked.")
    return redirect("spaces:tokens", access.org.slug, access.space.slug)


def _tokens_context(
    access: Access, form: TokenForm | None = None, token: object = None, secret: str | None = None
) -> dict:
    selected = set(form["scopes"].value() or []) if form is not None else set()
    return {
        "access": access,
        "tab": "tokens",
        "form": form,
        "scope_groups": [
            ("Shorthands", [c for c in SCOPE_CHOICES if c.shorthand]),
            ("Granular scopes", [c for c in SCOPE_CHOICES if not c.shorthand]),
        ],
        "selected_scopes": selected,
        "tokens": queries.tokens_for_space(access.space),
        "new_token": token,
        "secret": secret,
    }


# --- Audit log --------------------------------------------------------------------------


@org_view()
def audit_log(request: HttpRequest, access: Access) -> HttpResponse:
    """Who did what in this space, newest first, AUDIT_PAGE_SIZE a page."""
    page = Paginator(audit.entries_for_space(access.space), AUDIT_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [(entry, _detail_pairs(entry.details)) for entry in page.object_list]
    context = {"access": access, "tab": "audit", "page": page, "rows": rows}
    template = "spaces/audit.html#entries" if request.htmx else "spaces/audit.html"
    return render(request, template, context)


def _detail_pairs(details: object) -> list[tuple[str, str]]:
    """An entry's details as readable "key: value" pairs (lists joined by commas)."""
    if not isinstance(details, dict):
        return [("details", str(details))]
    return [(str(key), _readable(value)) for key, value in details.items()]


def _readable(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


# --- Rename and delete ------------------------------------------------------------------


@org_view()
def space_edit(request: HttpRequest, access: Access) -> HttpResponse:
    """The space's name and knobs (owners and admins change them; POST) and its deletion."""
    if request.method != "POST":
        return _edit_page(request, access, SpaceForm.for_space(access.space))
    access.require_manager()
    form = SpaceForm.for_space(access.space, request.POST)
    saved = False
    if form.is_valid():
        try:
            actions.update_space(access.space, actor=Actor.user(request.user), **form.changes())
            saved = True
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
    if saved and not request.htmx:
        messages.success(request, "Saved.")
        return redirect("spaces:edit", access.org.slug, access.space.slug)
    if saved:
        form = SpaceForm.for_space(access.space)
    return _edit_page(request, access, form, saved=saved, status=200 if saved else 422)


def _edit_page(
    request: HttpRequest, access: Access, form: SpaceForm, *, status: int = 200, **extra: object
) -> HttpResponse:
    context = {
        "access": access,
        "tab": "edit",
        "form": form,
        "delete_form": extra.pop("delete_form", None) or SpaceDeleteForm(space=access.space),
        **extra,
    }
    template = "spaces/edit.html#rename" if request.htmx else "spaces/edit.html"
    return render(request, template, context, status=status)


@org_view(manage=True)
@require_POST
def space_delete(request: HttpRequest, access: Access) -> HttpResponse:
    """Deletes the space with all its jobs once its slug is typed; back to the organization."""
    form = SpaceDeleteForm(request.POST, space=access.space)
    if not form.is_valid():
        context = {
            "access": access,
            "tab": "edit",
            "form": SpaceForm.for_space(access.space),
            "delete_form": form,
        }
        return render(request, "spaces/edit.html", context, status=422)
    name = access.space.name
    actions.delete_space(access.space, actor=Actor.user(request.user))
    messages.success(request, f"Space {name} deleted.")
    return redirect("orgs:detail", access.org.slug)

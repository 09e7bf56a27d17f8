"""The settings page of a space: Slack, HTTP push and the job callback signing secret.

Every member reads it (webhook URLs shown as their host only, header values hidden, the
signing secret never shown to anyone); owners and admins save each section through
spaces/actions.update_settings and send test deliveries through notifications/probe.py.
"""

from typing import Any

from django.contrib import messages
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from emitrun.errors import ValidationFailed
from jobs.lifecycle import Actor
from notifications import probe
from notifications.models import Delivery, DeliveryStatus, Kind
from orgs.access import Access, org_view
from spaces import actions, queries
from spaces.forms import CallbackSecretForm, PushForm, SlackForm, add_domain_errors
from spaces.models import SpaceSettings

SECTIONS: dict[str, type[Form]] = {
    "slack": SlackForm,
    "push": PushForm,
    "callback": CallbackSecretForm,
}
TESTABLE = {"slack": Kind.SLACK, "push": Kind.PUSH}
KINDS = {"slack": Kind.SLACK, "push": Kind.PUSH, "callback": Kind.CALLBACK}
HIDDEN = "••••••••"


@org_view()
def settings(request: HttpRequest, access: Access) -> HttpResponse:
    return render(request, "spaces/settings.html", _context(access))


@org_view(manage=True)
@require_POST
def settings_save(request: HttpRequest, access: Access, section: str) -> HttpResponse:
    """Saves one section; errors come back inline with status 422 and nothing is saved."""
    form = SECTIONS[section](request.POST)
    saved = False
    if form.is_valid():
        try:
            actions.update_settings(access.space, actor=Actor.user(request.user), **form.changes())
            saved = True
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
    if saved and not request.htmx:
        messages.success(request, "Saved.")
        return redirect("spaces:settings", access.org.slug, access.space.slug)
    bound = {} if saved else {section: form}
    context = _context(access, forms=bound, saved=section if saved else None)
    template = f"spaces/settings.html#{section}" if request.htmx else "spaces/settings.html"
    return render(request, template, context, status=200 if saved else 422)


@org_view(manage=True)
@require_POST
def settings_test(request: HttpRequest, access: Access, kind: str) -> HttpResponse:
    """Sends one test message to the saved URL now and shows how it went."""
    if kind not in TESTABLE:
        raise Http404("No such test")
    error, status = "", 200
    try:
        row = probe.send_test(access.space, kind=TESTABLE[kind], sent_by=request.user.email)
    except probe.NothingToTest as exc:
        row, error, status = None, str(exc), 422
    if not request.htmx:
        _flash_result(request, row, error)
        return redirect("spaces:settings", access.org.slug, access.space.slug)
    context = {
        "access": access,
        "kind": kind,
        "rows": queries.recent_deliveries(access.space, TESTABLE[kind]),
        "test": row,
        "test_error": error,
    }
    return render(request, "spaces/settings.html#deliveries", context, status=status)


@org_view()
def settings_deliveries(request: HttpRequest, access: Access, kind: str) -> HttpResponse:
    """The last deliveries of one kind: the partial the page re-fetches on live events."""
    if kind not in KINDS:
        raise Http404("No such kind of delivery")
    rows = queries.recent_deliveries(access.space, KINDS[kind])
    context = {"access": access, "kind": kind, "rows": rows}
    return render(request, "spaces/settings.html#deliveries", context)


def _flash_result(request: HttpRequest, row: Delivery | None, error: str) -> None:
    if row is None:
        messages.error(request, error)
    elif row.status == DeliveryStatus.SENT:
        messages.success(request, f"Test sent: HTTP {row.last_status_code}.")
    else:
        messages.error(request, f"Test failed: {row.last_error}")


def _context(
    access: Access, *, forms: dict[str, Form] | None = None, saved: str | None = None
) -> dict[str, Any]:
    conf = queries.settings_for_space(access.space)
    initial = _initial(conf, reveal=access.can_manage)
    forms = {
        name: (forms or {}).get(name) or cls(initial=initial) for name, cls in SECTIONS.items()
    }
    return {
        "access": access,
        "tab": "settings",
        "conf": conf,
        "slack_form": forms["slack"],
        "push_form": forms["push"],
        "callback_form": forms["callback"],
        "saved": saved,
        "slack_rows": queries.recent_deliveries(access.space, Kind.SLACK),
        "push_rows": queries.recent_deliveries(access.space, Kind.PUSH),
        "callback_rows": queries.recent_deliveries(access.space, Kind.CALLBACK),
    }


def _initial(conf: SpaceSettings, *, reveal: bool) -> dict[str, Any]:
    """What the forms show: everything to those who may change it; to other members the
    URLs' hosts and the header names only (webhook URLs and headers hold credentials)."""
    if reveal:
        url = str
        headers = dict(conf.push_headers or {})
    else:
        url = queries.redact_url
        headers = dict.fromkeys(conf.push_headers or {}, HIDDEN)
    return {
        "slack_webhook_url": url(conf.slack_webhook_url),
        "slack_events": list(conf.slack_events or []),
        "push_url": url(conf.push_url),
        "push_names": " ".join(conf.push_names or []),
        "push_headers": headers,
    }

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from emitrun.errors import ValidationFailed
from notifications.urls import Target, UnsafeURL, check_url, target
from spaces import actions
from spaces.models import SpaceSettings

pytestmark = pytest.mark.django_db

GOOD = {
    "slack_webhook_url": "https://hooks.slack.test/T/B/X",
    "slack_events": ["dead", "created", "dead"],
    "push_url": "https://push.example.test/wake",
    "push_headers": {"Authorization": "Bearer p"},
    "push_names": ["email", "report"],
    "callback_secret": "s",
}


def spacesettings(*args: str) -> dict:
    out = StringIO()
    call_command("spacesettings", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_update_settings_saves_clean_values(space):
    conf = actions.update_settings(space, **GOOD)
    conf.refresh_from_db()
    assert conf.slack_events == ["created", "dead"]
    assert (conf.push_names, conf.push_headers) == (["email", "report"], GOOD["push_headers"])
    actions.update_settings(space, slack_webhook_url="")
    conf.refresh_from_db()
    assert (conf.slack_webhook_url, conf.push_url) == ("", GOOD["push_url"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("push_url", "ftp://files.example.test/x"),
        ("slack_webhook_url", "http://127.0.0.1:9000/hook"),
        ("push_url", "http://169.254.169.254/latest/meta-data"),
        ("push_url", "http://[::1]/x"),
        ("push_url", "http://10.1.2.3/x"),
        ("push_url", "http://user:pw@example.test/x"),
        ("push_headers", {"X-Evil": "a\r\nInjected: 1"}),
        ("push_headers", {"bad name": "v"}),
        ("slack_events", ["created", "exploded"]),
        ("push_names", ["Not A Name"]),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_saved(space, field, value):
    with pytest.raises(ValidationFailed) as caught:
        actions.update_settings(space, **{**GOOD, field: value})
    assert list(caught.value.details) == [field]
    assert SpaceSettings.objects.get(space=space).push_url == ""


def test_private_receivers_allowed_with_the_flag(space, settings):
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = True
    actions.update_settings(space, push_url="http://127.0.0.1:9000/wake")
    with pytest.raises(UnsafeURL):
        check_url("gopher://127.0.0.1/")


def test_command_sets_and_shows_settings(space):
    out = spacesettings(
        str(space.id),
        "--slack-url",
        GOOD["slack_webhook_url"],
        "--slack-events",
        "created,failed",
        "--push-url",
        GOOD["push_url"],
        "--push-header",
        "Authorization=Bearer p",
        "--push-header",
        "X-Env=prod",
        "--push-names",
        "email",
        "--callback-secret",
        "top",
    )
    assert out["slack_events"] == ["created", "failed"]
    assert out["push_headers"] == ["Authorization", "X-Env"]
    assert out["callback_secret_set"] is True
    conf = SpaceSettings.objects.get(space=space)
    assert (conf.push_headers["X-Env"], conf.push_names, conf.callback_secret) == (
        "prod",
        ["email"],
        "top",
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--push-url", "ftp://x.example.test/"],
        ["--slack-url", "http://192.168.1.5/hook"],
        ["--slack-events", "created,boom"],
        ["--push-header", "novalue"],
    ],
)
def test_command_refuses_bad_settings(space, args):
    with pytest.raises(CommandError):
        spacesettings(str(space.id), "--push-names", "email", *args)
    assert SpaceSettings.objects.get(space=space).push_names == []


def test_command_unknown_space(db):
    with pytest.raises(CommandError, match="no space"):
        spacesettings("not-a-uuid")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/done", "http://169.254.169.254/", "ftp://example.test/x"]
)
def test_job_callback_url_must_be_public_http(api, url):
    r = api.producer.post("/api/v1/jobs", {"name": "a", "callback_url": url})
    assert r.status_code == 400, r.content
    assert "callback_url" in r.json()["details"]


def test_job_callback_url_to_localhost_allowed_with_the_flag(api, settings):
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = True
    r = api.producer.post("/api/v1/jobs", {"name": "a", "callback_url": "http://127.0.0.1:1/x"})
    assert r.status_code == 201, r.content


def test_send_target_is_pinned_to_the_checked_address(settings):
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = True
    assert target("https://localhost:8443/x?q=1") == Target(
        "https://127.0.0.1:8443/x?q=1", "localhost:8443", "localhost"
    )
    assert target("http://LOCALHOST/x") == Target("http://127.0.0.1/x", "LOCALHOST", None)
    assert target("http://127.0.0.1:9/x") == Target("http://127.0.0.1:9/x")
    assert target("http://nowhere.invalid/x") == Target("http://nowhere.invalid/x")

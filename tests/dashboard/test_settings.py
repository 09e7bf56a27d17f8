import pytest
from django.urls import reverse

from jobs import lifecycle
from notifications.models import Delivery
from spaces import actions
from spaces.models import AuditEntry, SpaceSettings
from tests.conftest import create_job
from tests.dashboard.conftest import HTMX, signed_in
from tests.receivers import receiver  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

SLACK = "https://hooks.slack.test/services/T000/B000/XXXXSECRET"


def url(space, name="spaces:settings", *args):
    return reverse(name, args=[space.organization.slug, space.slug, *args])


def conf(space):
    return SpaceSettings.objects.get(space=space)


@pytest.fixture
def private_ok(settings):
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = True


def test_member_reads_settings_without_secrets(member_client, space):
    actions.update_settings(
        space,
        slack_webhook_url=SLACK,
        push_url="https://push.example.test/wake?key=k123",
        push_headers={"Authorization": "Bearer push-secret"},
        callback_secret="callback-secret-value",
    )
    r = member_client.get(url(space))
    body = r.content.decode()
    assert r.status_code == 200
    assert "hooks.slack.test" in body
    assert "push.example.test" in body
    assert "Authorization" in body
    for secret in ("XXXXSECRET", "k123", "push-secret", "callback-secret-value"):
        assert secret not in body
    assert 'id="slack-save"' not in body
    assert "A signing secret is set" in body


def test_owner_sees_the_values_to_edit_but_never_the_signing_secret(owner_client, space):
    actions.update_settings(
        space,
        slack_webhook_url=SLACK,
        push_headers={"Authorization": "Bearer push-secret"},
        callback_secret="callback-secret-value",
    )
    body = owner_client.get(url(space)).content.decode()
    assert SLACK in body
    assert "Bearer push-secret" in body
    assert "callback-secret-value" not in body


def test_stranger_gets_404_and_member_403_on_save_and_test(stranger_client, member_client, space):
    assert stranger_client.get(url(space)).status_code == 404
    for client, status in ((stranger_client, 404), (member_client, 403)):
        data = {"slack_webhook_url": SLACK, "slack_events": ["dead"]}
        assert client.post(url(space, "spaces:settings_slack"), data, **HTMX).status_code == status
        assert (
            client.post(url(space, "spaces:settings_test", "slack"), **HTMX).status_code == status
        )
        assert client.post(
            url(space, "spaces:settings_callback"), {"remove": "on"}
        ).status_code == (status)
    assert conf(space).slack_webhook_url == ""
    assert not Delivery.objects.exists()


def test_slack_save_answers_the_partial_and_audits(owner, owner_client, space):
    data = {"slack_webhook_url": SLACK, "slack_events": ["dead", "created"]}
    r = owner_client.post(url(space, "spaces:settings_slack"), data, **HTMX)
    body = r.content.decode()
    assert r.status_code == 200
    assert 'id="slack-settings"' in body
    assert 'id="slack-saved"' in body
    assert "<html" not in body
    assert (conf(space).slack_webhook_url, conf(space).slack_events) == (SLACK, ["created", "dead"])
    entry = AuditEntry.objects.get(action="settings.update")
    assert entry.actor == f"user:{owner.email}"
    assert entry.details == {"fields": ["slack_events", "slack_webhook_url"]}


@pytest.mark.parametrize(
    "bad",
    ["http://127.0.0.1:9000/hook", "ftp://hooks.slack.test/x", "http://169.254.169.254/x"],
)
def test_unsafe_slack_url_is_refused_inline_with_422(owner_client, space, bad):
    actions.update_settings(space, slack_webhook_url=SLACK, slack_events=["dead"])
    data = {"slack_webhook_url": bad, "slack_events": ["created"]}
    r = owner_client.post(url(space, "spaces:settings_slack"), data, **HTMX)
    body = r.content.decode()
    assert r.status_code == 422
    assert 'id="id_slack_webhook_url-error" class="field-error"' in body
    assert 'id="slack-saved"' not in body
    assert bad in body
    assert (conf(space).slack_webhook_url, conf(space).slack_events) == (SLACK, ["dead"])
    assert not AuditEntry.objects.filter(action="settings.update").count() > 1


def test_unknown_slack_event_is_refused(owner_client, space):
    data = {"slack_webhook_url": SLACK, "slack_events": ["exploded"]}
    r = owner_client.post(url(space, "spaces:settings_slack"), data, **HTMX)
    assert r.status_code == 422
    assert 'id="id_slack_events-error"' in r.content.decode()
    assert conf(space).slack_webhook_url == ""


def test_push_headers_rows_and_names_are_saved(owner_client, space):
    data = {
        "push_url": "https://push.example.test/wake",
        "push_names": "email, report.daily",
        "header_name": ["Authorization", "", "X-Team"],
        "header_value": ["Bearer p", "", "ops"],
    }
    r = owner_client.post(url(space, "spaces:settings_push"), data, **HTMX)
    assert r.status_code == 200
    assert 'id="push-saved"' in r.content.decode()
    saved = conf(space)
    assert saved.push_headers == {"Authorization": "Bearer p", "X-Team": "ops"}
    assert saved.push_names == ["email", "report.daily"]


@pytest.mark.parametrize(
    ("names", "values", "names_field"),
    [
        (["Bad Name"], ["v"], ""),
        (["X-A"], ["line\r\nInjected: 1"], ""),
        (["", "X-B"], ["orphan", "v"], ""),
        (["X-A", "x-a"], ["1", "2"], ""),
        (["X-A"], ["1"], "Not A Name"),
    ],
)
def test_bad_push_input_is_refused_and_nothing_saved(
    owner_client, space, names, values, names_field
):
    data = {
        "push_url": "https://push.example.test/wake",
        "push_names": names_field,
        "header_name": names,
        "header_value": values,
    }
    r = owner_client.post(url(space, "spaces:settings_push"), data, **HTMX)
    body = r.content.decode()
    assert r.status_code == 422
    assert 'id="id_push_headers-error"' in body or 'id="id_push_names-error"' in body
    assert conf(space).push_url == ""


def test_callback_secret_set_never_echoed_and_removed(owner_client, space):
    secret = "a-very-long-signing-secret"
    r = owner_client.post(
        url(space, "spaces:settings_callback"), {"callback_secret": secret}, **HTMX
    )
    assert r.status_code == 200
    assert secret not in r.content.decode()
    assert conf(space).callback_secret == secret
    short = owner_client.post(url(space, "spaces:settings_callback"), {"callback_secret": "short"})
    assert short.status_code == 422
    assert conf(space).callback_secret == secret
    owner_client.post(url(space, "spaces:settings_callback"), {"remove": "on"}, **HTMX)
    assert conf(space).callback_secret == ""


def test_save_without_htmx_redirects_with_a_message(owner_client, space):
    data = {"slack_webhook_url": SLACK, "slack_events": ["dead"]}
    r = owner_client.post(url(space, "spaces:settings_slack"), data, follow=True)
    assert r.redirect_chain == [(url(space), 302)]
    assert "Saved." in r.content.decode()


def test_send_test_delivers_to_the_saved_slack_url(owner_client, space, receiver, private_ok):  # noqa: F811
    rx = receiver([200])
    actions.update_settings(space, slack_webhook_url=rx.url)
    r = owner_client.post(url(space, "spaces:settings_test", "slack"), **HTMX)
    body = r.content.decode()
    assert r.status_code == 200
    assert 'id="slack-deliveries"' in body
    assert "HTTP 200" in body
    (got,) = rx.got
    assert space.name in got.json["text"]
    row = Delivery.objects.get(space=space)
    assert (row.kind, row.event, row.status, row.attempts) == ("slack", "test", "sent", 1)
    assert got.headers["X-Emitrun-Delivery"] == str(row.id)


def test_send_test_push_carries_the_headers_and_records_a_failure(
    owner_client,
    space,
    receiver,  # noqa: F811
    private_ok,
):
    rx = receiver([503])
    actions.update_settings(space, push_url=rx.url, push_headers={"X-Token": "t1"})
    r = owner_client.post(url(space, "spaces:settings_test", "push"), **HTMX)
    assert r.status_code == 200
    assert "Test failed: HTTP 503" in r.content.decode()
    assert rx.got[0].headers["X-Token"] == "t1"
    assert rx.got[0].json["event"] == "test"
    row = Delivery.objects.get(space=space)
    assert (row.status, row.last_status_code, row.attempts) == ("failed", 503, 1)


def test_send_test_refuses_an_address_that_became_unsafe(
    owner_client,
    space,
    receiver,  # noqa: F811
    settings,
):
    rx = receiver([200])
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = True
    actions.update_settings(space, slack_webhook_url=rx.url)
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = False
    r = owner_client.post(url(space, "spaces:settings_test", "slack"), **HTMX)
    assert r.status_code == 200
    assert "refused" in r.content.decode()
    assert rx.got == []
    assert Delivery.objects.get(space=space).status == "failed"


def test_send_test_without_a_url_says_so(owner_client, space):
    r = owner_client.post(url(space, "spaces:settings_test", "slack"), **HTMX)
    assert r.status_code == 422
    assert "Save a Slack webhook URL first." in r.content.decode()
    assert not Delivery.objects.exists()


def test_send_test_without_htmx_flashes_the_result(owner_client, space, receiver, private_ok):  # noqa: F811
    rx = receiver([200])
    actions.update_settings(space, push_url=rx.url)
    r = owner_client.post(url(space, "spaces:settings_test", "push"), follow=True)
    assert "Test sent: HTTP 200." in r.content.decode()


def test_unknown_test_kind_is_404(owner_client, space):
    assert owner_client.post(url(space, "spaces:settings_test", "callback")).status_code == 404


def test_page_lists_the_last_deliveries_of_each_kind(owner_client, space, receiver, private_ok):  # noqa: F811
    rx = receiver([200])
    actions.update_settings(space, slack_webhook_url=rx.url)
    owner_client.post(url(space, "spaces:settings_test", "slack"))
    body = owner_client.get(url(space)).content.decode()
    row = Delivery.objects.get()
    assert f'data-delivery-id="{row.pk}" data-status="sent"' in body


def test_csrf_is_enforced(owner, space):
    client = signed_in(owner, csrf=True)
    r = client.post(url(space, "spaces:settings_slack"), {"slack_webhook_url": SLACK}, **HTMX)
    assert r.status_code == 403
    assert conf(space).slack_webhook_url == ""


def test_deliveries_partial_lists_a_kinds_rows_for_members(member_client, stranger_client, space):
    job = create_job(space, callback_url="https://callbacks.example.test/done")
    lifecycle.kill(job, actor=lifecycle.Actor.system("test"))
    row = Delivery.objects.get(space=space, kind="callback")
    partial = url(space, "spaces:settings_deliveries", "callback")
    r = member_client.get(partial, **HTMX)
    body = r.content.decode()
    assert r.status_code == 200
    assert 'id="callback-deliveries"' in body
    assert "<html" not in body
    assert f'data-delivery-id="{row.pk}"' in body
    assert str(job.pk)[:8] in body
    assert stranger_client.get(partial, **HTMX).status_code == 404
    assert member_client.get(url(space, "spaces:settings_deliveries", "email")).status_code == 404

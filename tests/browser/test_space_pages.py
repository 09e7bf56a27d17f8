"""The space pages in a real browser: the htmx swaps (422 answers included), the secret
shown once, the revoke confirmation, and a send test against a local receiver."""

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Page, expect

from spaces.models import ApiToken, Space, SpaceSettings
from tests.browser.conftest import shot
from tests.receivers import receiver  # noqa: F401 - fixture


@pytest.fixture
def signed_in_page(page: Page, live_url: str, owner) -> Page:
    client = Client()
    client.force_login(owner)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_url}]
    )
    return page


def space_url(live_url: str, space, tail: str) -> str:
    return f"{live_url}/o/{space.organization.slug}/s/{space.slug}/{tail}"


def test_token_is_created_shown_once_and_revoked(signed_in_page: Page, live_url, space):
    page = signed_in_page
    page.goto(space_url(live_url, space, "tokens/"))
    page.fill("#id_name", "image worker")
    page.check("#scope-jobs-worker")
    page.check("#scope-jobs-create")
    page.click("#token-create-submit")
    secret_box = page.locator("#token-secret")
    expect(secret_box).to_have_text(re.compile(r"^emr_\S{20,}$"))
    token = ApiToken.objects.get(space=space)
    first_secret = secret_box.text_content()
    assert first_secret.startswith(token.prefix)
    expect(page.locator(f'tr[data-token-id="{token.pk}"]')).to_have_attribute(
        "data-state", "active"
    )
    shot(page, "space-tokens-created")

    page.fill("#id_name", "producer")  # the form stays ready for the next one
    page.check("#scope-jobs-create")
    page.click("#token-create-submit")
    expect(page.locator("#token-secret")).not_to_have_text(first_secret)
    expect(page.locator("#token-list tbody tr")).to_have_count(2)

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f'tr[data-token-id="{token.pk}"] button', has_text="Revoke").click()
    expect(page.locator(f'tr[data-token-id="{token.pk}"]')).to_have_attribute(
        "data-state", "revoked"
    )
    page.reload()
    expect(page.locator("#token-secret")).to_have_count(0)


def test_slack_error_is_swapped_in_then_saved_and_tested(
    signed_in_page: Page,
    live_url,
    space,
    receiver,  # noqa: F811
    settings,
):
    page = signed_in_page
    page.goto(space_url(live_url, space, "settings/"))
    page.fill("#id_slack_webhook_url", "ftp://hooks.example.test/x")
    page.click("#slack-save")
    expect(page.locator("#id_slack_webhook_url-error")).to_contain_text("http")
    shot(page, "space-settings-error")

    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = True
    rx = receiver([200])
    page.fill("#id_slack_webhook_url", rx.url)
    page.check("#slack-event-dead")
    page.click("#slack-save")
    expect(page.locator("#slack-saved")).to_have_text("Saved.")
    assert SpaceSettings.objects.get(space=space).slack_events == ["dead"]

    page.click("#slack-test")
    expect(page.locator("#slack-test-result")).to_contain_text("HTTP 200")
    assert len(rx.got) == 1
    shot(page, "space-settings-tested")


def test_rename_is_swapped_in_and_shows_in_the_audit_log(signed_in_page: Page, live_url, space):
    page = signed_in_page
    page.goto(space_url(live_url, space, "edit/"))
    page.fill("#id_name", "   ")  # passes the browser's `required`, not the server
    page.click("#space-save")
    expect(page.locator("#id_name-error")).to_be_visible()
    page.fill("#id_name", "Billing jobs")
    page.click("#space-save")
    expect(page.locator("#space-saved")).to_have_text("Saved.")
    shot(page, "space-edit")
    page.goto(space_url(live_url, space, "audit/"))
    expect(page.locator('tr[data-action="space.update"]')).to_contain_text("Billing jobs")
    shot(page, "space-audit")


def test_delete_after_typing_the_slug_lands_on_the_organization(
    signed_in_page: Page, live_url, space
):
    page = signed_in_page
    page.goto(space_url(live_url, space, "edit/"))
    page.fill("#id_confirm_slug", "not-it")
    page.click("#space-delete-submit")
    expect(page.locator("#id_confirm_slug-error")).to_be_visible()
    page.fill("#id_confirm_slug", space.slug)
    page.click("#space-delete-submit")
    expect(page).to_have_url(f"{live_url}/o/{space.organization.slug}/")
    expect(page.get_by_text(f"Space {space.name} deleted.")).to_be_visible()
    assert not Space.objects.filter(pk=space.pk).exists()

import re

from playwright.sync_api import Page, expect

from orgs.models import Membership, Organization
from spaces import actions as space_actions
from spaces.models import Space
from tests.browser.conftest import shot
from tests.conftest import create_job


def sign_up(page: Page, live_url: str, email: str) -> None:
    page.goto(f"{live_url}/accounts/signup/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("a much longer secret 42")
    page.get_by_label("Confirm password").fill("a much longer secret 42")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{live_url}/")


def test_sign_up_create_an_organization_and_a_space(page: Page, live_url: str):
    sign_up(page, live_url, "ana@example.com")
    shot(page, "orgs-home-empty")
    page.get_by_label("Organization name").fill("Acme Rockets")
    page.get_by_role("button", name="Create organization").click()
    expect(page).to_have_url(f"{live_url}/o/acme-rockets/")
    page.get_by_role("link", name="New space").click()
    page.get_by_label("Space name").fill("Billing")
    page.get_by_label("Delivery timeout (seconds)").fill("0")
    page.get_by_role("button", name="Create space").click()
    expect(page.locator("#id_delivery_timeout_seconds-error")).to_contain_text("greater than")
    shot(page, "orgs-space-create-error")
    page.get_by_label("Delivery timeout (seconds)").fill("45")
    page.get_by_role("button", name="Create space").click()
    expect(page).to_have_url(re.compile(r"/o/acme-rockets/s/billing/$"))
    space = Space.objects.get(slug="billing")
    assert space.delivery_timeout_seconds == 45


def test_org_counts_update_without_reload(page: Page, live_url: str):
    sign_up(page, live_url, "bo@example.com")
    page.get_by_label("Organization name").fill("Counting")
    page.get_by_role("button", name="Create organization").click()
    org = Organization.objects.get(name="Counting")
    space = space_actions.create_space(organization=org, name="Jobs")
    page.reload()
    pending = page.locator('tr[data-space="jobs"] td[data-status="pending"]')
    expect(pending).to_have_text("0")
    create_job(space, "mail.send")
    expect(pending).to_have_text("1", timeout=12_000)
    shot(page, "orgs-detail-counts")


def test_members_page_invites_and_refuses_demoting_the_last_owner(page: Page, live_url: str):
    sign_up(page, live_url, "cy@example.com")
    page.get_by_label("Organization name").fill("Team")
    page.get_by_role("button", name="Create organization").click()
    page.goto(f"{live_url}/o/team/members/")
    page.get_by_label("Email").fill("dee@example.com")
    page.get_by_label("Role", exact=True).select_option("admin")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator('tr[data-member="dee@example.com"]')).to_have_attribute(
        "data-role", "admin"
    )
    owner = Membership.objects.get(user__email="cy@example.com")
    page.locator(f"#role-{owner.pk}").select_option("member")
    page.locator(f'form[action$="/members/{owner.pk}/role/"] button').click()
    expect(page.locator(".flash-error")).to_contain_text("last owner")
    shot(page, "orgs-members")

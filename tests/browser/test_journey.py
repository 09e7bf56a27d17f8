"""The dashboard's main journeys in Chromium, against the live app: a team signs up, makes
an organization, a space and a token, and watches jobs move while a worker (this test,
over the REST API) drives them. Screenshots of the main pages land in tests/artifacts/.
"""

import re
from dataclasses import dataclass

import httpx
import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from orgs.models import Membership, Role
from spaces import actions as space_actions
from spaces.models import Space, SpaceSettings
from tests.browser.conftest import shot
from tests.factories import OrganizationFactory, SpaceFactory, UserFactory

PASSWORD = "a long and winding passphrase"


@dataclass
class Worker:
    """A worker (or producer) speaking the REST API with one token."""

    http: httpx.Client
    space_id: str

    def create(self, name: str, payload: object) -> str:
        r = self.http.post(f"/spaces/{self.space_id}/jobs", json={"name": name, "payload": payload})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def poll_one(self) -> dict:
        r = self.http.post(
            f"/spaces/{self.space_id}/jobs/poll",
            json={"limit": 1, "worker_id": "browser-test-worker", "wait_seconds": 5},
        )
        assert r.status_code == 200, r.text
        jobs = r.json()["jobs"]
        assert len(jobs) == 1, r.text
        return jobs[0]

    def call(self, job_id: str, verb: str, **body: object) -> httpx.Response:
        return self.http.post(f"/jobs/{job_id}/{verb}", json=body)


def worker_for(live_url: str, space_id: str, secret: str) -> Worker:
    http = httpx.Client(
        base_url=f"{live_url}/api/v1",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=15,
    )
    return Worker(http, str(space_id))


@pytest.fixture
def team(transactional_db) -> tuple:
    """An owner with an organization, a space and an admin token (made without the UI)."""
    user = UserFactory(password=PASSWORD)
    org = OrganizationFactory(name="Globex")
    Membership.objects.create(user=user, organization=org, role=Role.OWNER)
    space = SpaceFactory(organization=org, name="Billing")
    _, secret = space_actions.issue_token(space=space, name="ops", scopes=["jobs:admin"])
    return user, org, space, secret


def sign_in_as(page: Page, live_url: str, user: object) -> None:
    """Puts a session of `user` into the browser (the sign-in form has its own test)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_url}])


def wait_live(page: Page) -> None:
    """The page's socket to the space's stream is open (events reach it from now on)."""
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


def test_a_team_runs_a_space_from_the_browser(page: Page, live_url: str) -> None:
    # Sign up: the new account is signed in at once.
    page.goto(f"{live_url}/accounts/signup/")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{live_url}/")

    # An organization, then a space in it.
    page.goto(f"{live_url}/orgs/new/")
    page.get_by_label("Organization name").fill("Acme Robotics")
    page.get_by_role("button", name="Create organization").click()
    expect(page).to_have_url(re.compile(rf"^{live_url}/o/[\w-]+/$"))
    org_slug = page.url.rstrip("/").rsplit("/", 1)[-1]

    page.get_by_role("link", name="New space").click()
    page.get_by_label("Space name").fill("Production")
    page.get_by_label("Slug (optional)").fill("production")
    page.get_by_label("Delivery timeout (seconds)").fill("30")
    page.get_by_label("Retention (days)").fill("7")
    page.get_by_role("button", name="Create space").click()
    space_url = f"{live_url}/o/{org_slug}/s/production/"
    expect(page).to_have_url(space_url)
    space = Space.objects.get(organization__slug=org_slug, slug="production")
    assert space.delivery_timeout_seconds == 30

    # A token: the secret is shown once, on this page.
    page.goto(f"{space_url}tokens/")
    page.locator("#token-form #id_name").fill("producer")
    page.locator("#scope-jobs-admin").check()
    page.locator("#token-create-submit").click()
    secret = page.locator("#token-secret").inner_text().strip()
    assert secret.startswith("emr_")
    assert page.locator("#token-secret").count() == 1
    shot(page, "tokens")
    worker = worker_for(live_url, space.pk, secret)

    # A job made over the API appears in the open jobs table without a reload.
    page.goto(f"{space_url}jobs/")
    wait_live(page)
    page.evaluate("window.__stillThisPage = true")
    job_id = worker.create("render-invoice", {"invoice": 1042, "customer": "Initech"})
    row = page.locator(f'#job-results tr[data-job-id="{job_id}"]')
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-status", "pending")
    assert page.evaluate("window.__stillThisPage") is True
    shot(page, "jobs-table")

    # The job page follows the worker: ack, progress 50 %, complete.
    page.goto(f"{space_url}jobs/{job_id}/")
    wait_live(page)
    expect(page.locator("#job-payload")).to_contain_text("Initech")
    job = worker.poll_one()
    assert job["id"] == job_id
    lease = job["lease_id"]
    assert worker.call(job_id, "ack", lease_id=lease).status_code == 200
    expect(page.locator("#job-status-badge")).to_have_attribute("data-status", "running")
    r = worker.call(job_id, "progress", lease_id=lease, percent=50, message="Rendering pages")
    assert r.status_code == 200, r.text
    expect(page.locator("#job-progress-bar")).to_have_attribute("value", re.compile(r"^50(\.0+)?$"))
    expect(page.locator("#job-progress-percent")).to_contain_text("50")
    expect(page.locator("#job-progress-message")).to_contain_text("Rendering pages")
    shot(page, "job-page-running")
    r = worker.call(job_id, "complete", lease_id=lease, result={"pages": 3})
    assert r.status_code == 200, r.text
    expect(page.locator("#job-status-badge")).to_have_attribute("data-status", "completed")
    expect(page.locator("#job-result")).to_contain_text("pages")
    expect(page.locator('#job-timeline li[data-type="job.completed"]')).to_have_count(1)
    shot(page, "job-page")

    # The overview counts it and draws its charts.
    page.goto(space_url)
    expect(page.locator("#count-completed .n")).to_have_text("1")
    expect(page.locator("#chart-throughput")).to_have_attribute("data-loaded", re.compile(".*"))
    expect(page.locator("#chart-latency")).to_have_attribute("data-loaded", re.compile(".*"))
    shot(page, "overview")


def test_slack_settings_show_a_bad_url_inline_then_save_a_good_one(
    page: Page, live_url: str, team: tuple
) -> None:
    user, org, space, _ = team
    sign_in_as(page, live_url, user)
    page.goto(f"{live_url}/o/{org.slug}/s/{space.slug}/settings/")
    url_input = page.locator("#id_slack_webhook_url")

    url_input.fill("not a url")
    page.locator("#slack-save").click()
    error = page.locator("#id_slack_webhook_url-error")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    assert SpaceSettings.objects.get(space=space).slack_webhook_url == ""
    shot(page, "settings-error")

    good = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
    page.locator("#id_slack_webhook_url").fill(good)
    page.locator("#slack-save").click()
    expect(page.locator("#slack-saved")).to_contain_text("Saved.")
    expect(page.locator("#id_slack_webhook_url-error")).to_have_count(0)
    assert SpaceSettings.objects.get(space=space).slack_webhook_url == good
    shot(page, "settings")


def test_killing_a_running_job_from_its_page_stops_the_worker(
    page: Page, live_url: str, team: tuple
) -> None:
    user, org, space, secret = team
    worker = worker_for(live_url, space.pk, secret)
    job_id = worker.create("resize-image", {"image": "cat.png"})
    lease = worker.poll_one()["lease_id"]
    assert worker.call(job_id, "ack", lease_id=lease).status_code == 200

    sign_in_as(page, live_url, user)
    page.goto(f"{live_url}/o/{org.slug}/s/{space.slug}/jobs/{job_id}/")
    expect(page.locator("#job-status-badge")).to_have_attribute("data-status", "running")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#job-kill").click()
    expect(page.locator("#job-status-badge")).to_have_attribute("data-status", "killed")
    expect(page.locator("#job-kill")).to_have_count(0)

    r = worker.call(job_id, "progress", lease_id=lease, percent=80, message="Almost")
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "JOB_KILLED"
    r = worker.call(job_id, "complete", lease_id=lease, result={})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "JOB_KILLED"

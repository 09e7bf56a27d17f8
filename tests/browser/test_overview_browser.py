import threading
from urllib.parse import urlparse

from django.test import Client
from playwright.sync_api import expect

from jobs import lifecycle
from jobs.models import Queue
from orgs.models import Membership, Role
from spaces.models import AuditEntry
from tests.browser.conftest import shot
from tests.conftest import SYSTEM, create_job
from tests.factories import SpaceFactory, UserFactory


def sign_in(page, live_url, user):
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    host = urlparse(live_url).hostname
    page.context.add_cookies([{"name": "sessionid", "value": session, "domain": host, "path": "/"}])


def in_thread(fn, *args):
    """Runs fn away from Playwright's event loop, so on-commit publishing can reach Redis."""
    thread = threading.Thread(target=fn, args=args)
    thread.start()
    thread.join(10)


def finished_job(space, name):
    create_job(space, name)
    (job,) = lifecycle.poll(space, limit=1, names=[name], worker_id="w", actor=SYSTEM)
    job = lifecycle.ack(job, lease_id=str(job.lease_id), actor=SYSTEM)
    return lifecycle.complete(job, result={"ok": True}, actor=SYSTEM)


def test_overview_draws_charts_updates_live_and_pauses_a_queue(page, live_url):
    space = SpaceFactory()
    owner = UserFactory()
    Membership.objects.create(user=owner, organization=space.organization, role=Role.OWNER)
    finished_job(space, "email")
    sign_in(page, live_url, owner)

    page.goto(f"{live_url}/o/{space.organization.slug}/s/{space.slug}/")
    expect(page.locator("#chart-throughput")).to_have_attribute("data-loaded", "true")
    expect(page.locator("#chart-latency")).to_have_attribute("data-loaded", "true")
    expect(page.locator("#count-completed .n")).to_have_text("1")
    expect(page.locator("[data-summary-for=chart-throughput]")).to_contain_text("1 completed")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    in_thread(create_job, space, "email")
    expect(page.locator("#count-pending .n")).to_have_text("1")
    expect(page.locator('#queues-table tr[data-queue="email"] [data-col=pending]')).to_have_text(
        "1"
    )

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('tr[data-queue="email"] button[data-action=pause]').click()
    expect(page.locator('#queues-table tr[data-queue="email"]')).to_have_attribute(
        "data-paused", "true"
    )
    assert Queue.objects.get(space=space, name="email").paused
    assert AuditEntry.objects.filter(space=space, action="queue.pause").count() == 1

    in_thread(lambda: [create_job(space, "email") for _ in range(5)])
    expect(page.locator("#count-pending .n")).to_have_text("6")

    page.get_by_role("button", name="Last day").click()
    expect(page.locator("#chart-throughput")).to_have_attribute("data-window", "day")
    assert "window=day" in page.url
    shot(page, "overview")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function(
        "document.querySelector('#chart-latency canvas').getBoundingClientRect().right <= 390"
    )
    shot(page, "overview-phone")

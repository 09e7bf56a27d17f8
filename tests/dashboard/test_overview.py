import re

import pytest
from django.test import Client

from jobs import lifecycle, queues
from jobs.models import Queue
from spaces.models import AuditEntry
from tests.conftest import SYSTEM, create_job
from tests.dashboard.conftest import HTMX, signed_in


def url(space, tail=""):
    return f"/o/{space.organization.slug}/s/{space.slug}/{tail}"


PARTS = ["", "overview/counts/", "overview/queues/", "overview/charts.json"]


def counts_in(html: str) -> dict[str, int]:
    found = re.findall(r'id="count-(\w+)".*?<span class="n">(\d+)</span>', html, re.S)
    return {status: int(n) for status, n in found}


def queue_row(html: str, name: str) -> str:
    match = re.search(rf'<tr data-queue="{re.escape(name)}"[^>]*>.*?</tr>', html, re.S)
    assert match, f"no row for queue {name}"
    return match.group(0)


@pytest.mark.parametrize("tail", PARTS)
def test_stranger_gets_404_and_anonymous_is_sent_to_sign_in(stranger_client, space, tail):
    assert stranger_client.get(url(space, tail)).status_code == 404
    response = Client().get(url(space, tail))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("tail", PARTS)
def test_member_sees_every_part(member_client, space, tail):
    assert member_client.get(url(space, tail)).status_code == 200


def test_another_organizations_space_is_404(owner_client, other_space):
    assert owner_client.get(url(other_space)).status_code == 404
    create_job(other_space, "theirs")
    response = owner_client.post(url(other_space, "queues/theirs/pause/"))
    assert response.status_code == 404
    assert not Queue.objects.get(space=other_space, name="theirs").paused


def test_counts_match_the_jobs_of_the_space(owner_client, space, other_space, running_job):
    create_job(space, "email")
    create_job(space, "email")
    killed = create_job(space, "report")
    lifecycle.kill(killed, actor=SYSTEM)
    create_job(other_space, "email")
    html = owner_client.get(url(space)).content.decode()
    assert counts_in(html) == {
        "scheduled": 0,
        "pending": 2,
        "delivered": 0,
        "running": 1,
        "completed": 0,
        "dead": 0,
        "killed": 1,
        "cancelled": 0,
    }
    assert 'data-total="4"' in html


def test_counts_partial_answers_htmx_with_the_fragment_only(owner_client, space, pending_job):
    response = owner_client.get(url(space, "overview/counts/"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="summary"')
    assert "<html" not in html
    assert counts_in(html)["pending"] == 1
    assert 'hx-trigger="live:event from:body throttle:1s, live:settled' in html


def test_empty_space_shows_how_to_create_the_first_job(owner_client, space):
    html = owner_client.get(url(space)).content.decode()
    assert "create your first job" in html
    assert f"http://testserver/api/v1/spaces/{space.pk}/jobs" in html
    assert 'id="queues-empty"' in html
    create_job(space, "email")
    html = owner_client.get(url(space)).content.decode()
    assert "create your first job" not in html


def test_page_has_the_chart_hooks(owner_client, space):
    html = owner_client.get(url(space, "?window=day")).content.decode()
    assert 'id="chart-throughput"' in html
    assert 'id="chart-latency"' in html
    assert f'data-src="{url(space, "overview/charts.json")}"' in html
    assert 'data-window="day"' in html
    assert "uPlot.iife.min.js" in html


def test_queues_table_shows_depth_and_state(owner_client, space, running_job):
    create_job(space, "email")
    queues.pause(space, "report", reason="deploy")
    html = owner_client.get(url(space, "overview/queues/"), **HTMX).content.decode()
    assert html.lstrip().startswith('<section id="queues"')
    work = queue_row(html, "work")
    assert 'data-paused="false"' in work
    assert re.search(r'data-col="running">1<', work)
    email = queue_row(html, "email")
    assert re.search(r'data-col="pending">1<', email)
    assert 'data-paused="true"' in queue_row(html, "report")


def test_owner_pauses_and_resumes_a_queue_with_an_audit_entry(owner_client, owner, space):
    create_job(space, "email")
    response = owner_client.post(url(space, "queues/email/pause/"), {"reason": "deploy"}, **HTMX)
    assert response.status_code == 200
    assert 'data-paused="true"' in queue_row(response.content.decode(), "email")
    queue = Queue.objects.get(space=space, name="email")
    assert (queue.paused, queue.pause_reason) == (True, "deploy")
    assert lifecycle.poll(space, limit=5, actor=SYSTEM) == []

    response = owner_client.post(url(space, "queues/email/resume/"))
    assert response.status_code == 302
    assert response["Location"] == url(space)
    assert not Queue.objects.get(space=space, name="email").paused
    entries = list(AuditEntry.objects.filter(space=space).order_by("created_at", "id"))
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("queue.pause", "email", f"user:{owner.email}"),
        ("queue.resume", "email", f"user:{owner.email}"),
    ]
    assert entries[0].details == {"reason": "deploy"}


def test_admin_may_pause(admin_user, space):
    create_job(space, "email")
    response = signed_in(admin_user).post(url(space, "queues/email/pause/"), **HTMX)
    assert response.status_code == 200
    assert Queue.objects.get(space=space, name="email").paused


def test_member_gets_403_on_pause_and_resume_and_sees_no_buttons(member_client, space):
    create_job(space, "email")
    assert member_client.post(url(space, "queues/email/pause/")).status_code == 403
    assert not Queue.objects.get(space=space, name="email").paused
    queues.pause(space, "email")
    assert member_client.post(url(space, "queues/email/resume/")).status_code == 403
    assert Queue.objects.get(space=space, name="email").paused
    assert not AuditEntry.objects.filter(space=space).exists()
    html = member_client.get(url(space)).content.decode()
    assert 'data-action="resume"' not in html
    assert "/queues/email/" not in html


def test_pause_needs_post_csrf_and_an_existing_queue(owner, owner_client, space):
    create_job(space, "email")
    assert owner_client.get(url(space, "queues/email/pause/")).status_code == 405
    assert owner_client.post(url(space, "queues/nope/pause/")).status_code == 404
    assert not Queue.objects.filter(space=space, name="nope").exists()
    strict = signed_in(owner, csrf=True)
    assert strict.post(url(space, "queues/email/pause/")).status_code == 403
    assert not Queue.objects.get(space=space, name="email").paused


def test_pausing_a_paused_queue_changes_nothing_and_audits_once(owner_client, space):
    create_job(space, "email")
    owner_client.post(url(space, "queues/email/pause/"), **HTMX)
    owner_client.post(url(space, "queues/email/pause/"), **HTMX)
    assert AuditEntry.objects.filter(space=space, action="queue.pause").count() == 1


def test_api_pause_and_resume_are_audited_with_the_token(api, space):
    create_job(space, "email")
    assert api.operator.post("/api/v1/queues/email/pause", {"reason": "x"}).status_code == 200
    assert api.operator.post("/api/v1/queues/email/resume").status_code == 200
    entries = AuditEntry.objects.filter(space=space, action__startswith="queue.")
    actions = entries.values_list("action", "actor")
    assert sorted(a for a, _ in actions) == ["queue.pause", "queue.resume"]
    assert all(actor.startswith("token:test (") for _, actor in actions)

import html as htmllib
import re

import pytest

from jobs import lifecycle
from jobs.models import Job, JobEvent, Status
from notifications.models import Delivery
from spaces.models import AuditEntry
from tests.conftest import SYSTEM, create_job
from tests.dashboard.conftest import HTMX, signed_in
from tests.dashboard.jobs_helpers import dead, jobs_url, running


def page(client, job, suffix="", **extra):
    return client.get(jobs_url(job.space, f"{job.pk}/{suffix}"), **extra)


def test_stranger_and_foreign_job_get_404(member_client, stranger_client, space, other_space):
    mine = create_job(space, "work")
    foreign = create_job(other_space, "work")
    assert stranger_client.get(jobs_url(space, f"{mine.pk}/")).status_code == 404
    assert member_client.get(jobs_url(space, f"{foreign.pk}/")).status_code == 404
    assert member_client.post(jobs_url(space, f"{foreign.pk}/kill/")).status_code == 404
    assert Job.objects.get(pk=foreign.pk).status == Status.PENDING


def test_page_shows_payload_result_progress_and_timeline(member_client, space):
    job = running(space, "render", payload={"frame": 7, "name": "<b>x</b>"}, tags=["video"])
    lifecycle.progress(
        job,
        percent=42.4,
        message="encoding",
        sub_progress={"audio": 100, "video": 30},
        lease_id=str(job.lease_id),
        actor=SYSTEM,
    )
    job = lifecycle.complete(
        job, result={"url": "s3://out"}, lease_id=str(job.lease_id), actor=SYSTEM
    )
    html = page(member_client, job).content.decode()
    assert 'id="job-status-badge" class="badge status-completed" data-status="completed"' in html
    assert '<progress id="job-progress-bar" value="42" max="100">' in html
    assert 'id="job-progress-percent">42%' in html
    assert 'id="job-progress-message">encoding' in html
    assert 'data-stage="video"' in html
    payload = re.search(r'<pre class="json" id="job-payload">(.*?)</pre>', html, re.S).group(1)
    assert "&lt;b&gt;x&lt;/b&gt;" in payload  # escaped, never markup
    assert '"frame": 7' in htmllib.unescape(payload)
    result = re.search(r'id="job-result">(.*?)</pre>', html, re.S).group(1)
    assert '"url": "s3://out"' in htmllib.unescape(result)
    types = re.findall(r'<li data-type="([\w.]+)"', html)
    assert types == ["job.created", "job.delivered", "job.started", "job.progress", "job.completed"]
    assert "w-1" in html  # the worker
    assert 'data-copy="#job-payload"' in html
    assert '<span class="badge">video</span>' in html


def test_buttons_follow_the_state(member_client, space):
    waiting = create_job(space, "work")
    html = page(member_client, waiting).content.decode()
    assert 'id="job-kill"' in html
    assert 'id="job-cancel"' in html
    assert 'id="job-retry"' not in html
    assert "Kill job" in html
    assert "hx-confirm=" in html
    busy = running(space, "work")
    html = page(member_client, busy).content.decode()
    assert 'id="job-kill"' in html
    assert 'id="job-cancel"' not in html
    gone = dead(space, "work", error="out of memory")
    html = page(member_client, gone).content.decode()
    assert 'id="job-retry"' in html
    assert 'id="job-kill"' not in html
    assert "out of memory" in html


def test_kill_over_htmx_answers_the_live_partial_and_the_worker_hears_409(
    member, space, api, django_capture_on_commit_callbacks
):
    client = signed_in(member, csrf=False)
    job = running(space, "work")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(jobs_url(space, f"{job.pk}/kill/"), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="job-live"')
    assert 'data-status="killed"' in html
    assert "Job killed." in html
    event = JobEvent.objects.get(job=job, type="job.killed")
    assert event.actor == f"user:{member.email}"
    assert AuditEntry.objects.filter(action="job.kill", target=str(job.pk)).exists()
    r = api.worker.post(f"/api/v1/jobs/{job.pk}/complete", {"lease_id": str(job.lease_id)})
    assert (r.status_code, r.json()["code"]) == (409, "JOB_KILLED")


def test_retry_of_a_dead_job_without_javascript_redirects_with_a_message(member_client, space):
    job = dead(space, "work")
    response = member_client.post(jobs_url(space, f"{job.pk}/retry/"), follow=True)
    assert response.redirect_chain[-1][0] == jobs_url(space, f"{job.pk}/")
    assert Job.objects.get(pk=job.pk).status == Status.PENDING
    assert "Job queued again." in response.content.decode()
    assert AuditEntry.objects.filter(action="job.retry").count() == 1


def test_cancel_a_pending_job(member_client, space):
    job = create_job(space, "work")
    response = member_client.post(jobs_url(space, f"{job.pk}/cancel/"), **HTMX)
    assert response.status_code == 200
    assert Job.objects.get(pk=job.pk).status == Status.CANCELLED


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_action_the_state_forbids_answers_409_and_changes_nothing(member_client, space, action):
    job = running(space, "work")
    response = member_client.post(jobs_url(space, f"{job.pk}/{action}/"), **HTMX)
    assert response.status_code == 409
    html = response.content.decode()
    assert 'class="field-error"' in html
    assert 'data-status="running"' in html
    assert Job.objects.get(pk=job.pk).status == Status.RUNNING


def test_kill_needs_post_and_csrf(member, space):
    job = create_job(space, "work")
    strict = signed_in(member, csrf=True)
    assert strict.get(jobs_url(space, f"{job.pk}/kill/")).status_code == 405
    assert strict.post(jobs_url(space, f"{job.pk}/kill/")).status_code == 403
    assert Job.objects.get(pk=job.pk).status == Status.PENDING


def test_live_partial_refreshes_on_this_jobs_events(member_client, space):
    job = create_job(space, "work")
    response = page(member_client, job, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="job-live"')
    assert f"live:event[detail.job_id=='{job.pk}'] from:body" in html
    assert "live:poll from:body" in html
    assert "<html" not in html


def test_unknown_job_id_is_404(member_client, space):
    assert (
        member_client.get(jobs_url(space, "00000000-0000-0000-0000-000000000000/")).status_code
        == 404
    )
    assert member_client.get(jobs_url(space, "not-a-uuid/")).status_code == 404


def test_callback_deliveries_are_listed_with_their_attempts(member_client, space):
    job = running(space, "work", callback_url="https://hooks.example.com/done")
    job = lifecycle.complete(job, result={"ok": True}, lease_id=str(job.lease_id), actor=SYSTEM)
    delivery = Delivery.objects.get(job=job, kind="callback")
    assert delivery.event == "completed"
    html = page(member_client, job).content.decode()
    assert 'id="job-deliveries"' in html
    assert f"0/{delivery.max_attempts}" in html
    assert "hooks.example.com/done" in html

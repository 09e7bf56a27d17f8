import re

import pytest

from jobs.models import Job, JobEvent, Status
from spaces.models import AuditEntry
from tests.conftest import create_job
from tests.dashboard.conftest import HTMX, signed_in
from tests.dashboard.jobs_helpers import dead, dead_url


def groups(response) -> list[tuple[str, str]]:
    return re.findall(
        r'<tr data-group-name="([\w.-]+)" data-count="(\d+)"', response.content.decode()
    )


def test_stranger_gets_404(stranger_client, space):
    assert stranger_client.get(dead_url(space)).status_code == 404
    assert stranger_client.post(dead_url(space, "retry/"), {"name": "x"}).status_code == 404


def test_dead_jobs_are_grouped_by_name_and_error(member_client, space, other_space):
    for _ in range(3):
        dead(space, "resize", error="disk full")
    dead(space, "resize", error="bad image")
    dead(space, "mail", error="smtp down")
    dead(other_space, "mail", error="smtp down")
    create_job(space, "mail")
    response = member_client.get(dead_url(space))
    assert response.status_code == 200
    assert sorted(groups(response)) == [("mail", "1"), ("resize", "1"), ("resize", "3")]
    html = response.content.decode()
    assert "disk full" in html
    assert "smtp down" in html
    assert len(re.findall(r'<tr data-job-id="', html)) == 5


def test_a_group_link_lists_only_its_jobs(member_client, space):
    full = dead(space, "resize", error="disk full")
    dead(space, "resize", error="bad image")
    response = member_client.get(dead_url(space), {"name": "resize", "error": "disk full"})
    assert re.findall(r'<tr data-job-id="([0-9a-f-]+)"', response.content.decode()) == [
        str(full.pk)
    ]


def test_retry_one_dead_job(member_client, member, space):
    job = dead(space, "resize")
    response = member_client.post(dead_url(space, "retry/"), {"job_id": job.pk}, follow=True)
    assert Job.objects.get(pk=job.pk).status == Status.PENDING
    assert "Retried 1 dead jobs." in response.content.decode()
    event = JobEvent.objects.filter(job=job).latest("id")
    assert (event.type, event.data, event.actor) == (
        "job.pending",
        {"reason": "dlq_retry"},
        f"user:{member.email}",
    )
    assert AuditEntry.objects.get(action="dlq.retry").actor == f"user:{member.email}"


def test_retry_a_whole_group_leaves_other_groups_dead(member_client, space):
    full = [dead(space, "resize", error="disk full") for _ in range(3)]
    other = dead(space, "resize", error="bad image")
    member_client.post(dead_url(space, "retry/"), {"name": "resize", "last_error": "disk full"})
    assert {j.status for j in Job.objects.filter(pk__in=[j.pk for j in full])} == {"pending"}
    assert Job.objects.get(pk=other.pk).status == Status.DEAD


def test_retry_of_another_spaces_job_changes_nothing(member_client, space, other_space):
    foreign = dead(other_space, "resize")
    response = member_client.post(dead_url(space, "retry/"), {"job_id": foreign.pk}, follow=True)
    assert "Retried 0 dead jobs. 1 were no longer dead." in response.content.decode()
    assert Job.objects.get(pk=foreign.pk).status == Status.DEAD


def test_purge_a_group_is_for_managers(owner, member_client, space):
    full = [dead(space, "resize", error="disk full") for _ in range(2)]
    other = dead(space, "resize", error="bad image")
    data = {"name": "resize", "last_error": "disk full", "confirm": "on"}
    assert member_client.post(dead_url(space, "purge/"), data).status_code == 403
    assert Job.objects.filter(pk__in=[j.pk for j in full]).count() == 2
    assert "Purge</button>" not in member_client.get(dead_url(space)).content.decode()
    response = signed_in(owner).post(dead_url(space, "purge/"), data, follow=True)
    assert "Purged 2 dead jobs of resize." in response.content.decode()
    assert not Job.objects.filter(pk__in=[j.pk for j in full]).exists()
    assert Job.objects.filter(pk=other.pk).exists()
    entry = AuditEntry.objects.get(action="dlq.purge")
    assert (entry.actor, entry.details) == (f"user:{owner.email}", {"count": 2})


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("retry/", {}),
        ("retry/", {"job_id": "not-a-uuid"}),
        ("purge/", {"name": "resize", "last_error": "disk full"}),  # not confirmed
        ("purge/", {"confirm": "on"}),
    ],
)
def test_bad_dead_letter_requests_answer_400_and_change_nothing(owner, space, path, data):
    job = dead(space, "resize", error="disk full")
    response = signed_in(owner).post(dead_url(space, path), data)
    assert response.status_code == 400
    assert 'id="dead-problem"' in response.content.decode()
    assert Job.objects.get(pk=job.pk).status == Status.DEAD


def test_dead_letter_actions_need_csrf(member, space):
    job = dead(space, "resize")
    response = signed_in(member, csrf=True).post(dead_url(space, "retry/"), {"job_id": job.pk})
    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).status == Status.DEAD


def test_htmx_gets_the_live_partial(member_client, space):
    dead(space, "resize")
    html = member_client.get(dead_url(space), **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="dead-letters"')
    assert "live:poll from:body" in html
    assert "<html" not in html

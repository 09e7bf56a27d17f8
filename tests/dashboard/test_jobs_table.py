import re

import pytest

from jobs.models import Job, JobEvent, Status
from spaces.models import AuditEntry
from tests.conftest import create_job
from tests.dashboard.conftest import HTMX, signed_in
from tests.dashboard.jobs_helpers import dead, jobs_url, running

ROW = re.compile(r'<tr data-job-id="([0-9a-f-]{36})" data-status="(\w+)"')


def rows(response) -> list[tuple[str, str]]:
    return ROW.findall(response.content.decode())


def ids(response) -> list[str]:
    return [job_id for job_id, _ in rows(response)]


def test_stranger_gets_404_and_anonymous_is_sent_to_sign_in(client, stranger_client, space):
    assert stranger_client.get(jobs_url(space)).status_code == 404
    response = client.get(jobs_url(space))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_member_sees_the_spaces_jobs_only(member_client, space, other_space):
    mine = create_job(space, "mail", payload={"to": "a@example.com"})
    create_job(other_space, "mail")
    response = member_client.get(jobs_url(space))
    assert response.status_code == 200
    assert rows(response) == [(str(mine.pk), "pending")]
    html = response.content.decode()
    assert 'id="job-results"' in html
    assert str(mine.pk)[:8] in html


def test_rows_show_retries_and_last_error(member_client, space):
    job = dead(space, "resize", error="disk full")
    html = member_client.get(jobs_url(space)).content.decode()
    assert f"{job.retry_count}/{job.max_retries}" in html
    assert "disk full" in html
    assert 'class="badge status-dead"' in html


def test_filters_by_status_name_tag_and_time(member_client, space):
    mail = create_job(space, "mail", tags=["urgent"])
    create_job(space, "resize", tags=["slow"])
    busy = running(space, "mail")
    assert ids(member_client.get(jobs_url(space), {"status": "running"})) == [str(busy.pk)]
    assert set(ids(member_client.get(jobs_url(space), {"name": "mail"}))) == {
        str(mail.pk),
        str(busy.pk),
    }
    assert ids(member_client.get(jobs_url(space), {"tag": "urgent"})) == [str(mail.pk)]
    two_statuses = member_client.get(jobs_url(space), {"status": ["pending", "running"]})
    assert len(ids(two_statuses)) == 3
    later = (mail.created_at.replace(year=mail.created_at.year + 1)).strftime("%Y-%m-%dT%H:%M")
    assert ids(member_client.get(jobs_url(space), {"created_after": later})) == []
    assert len(ids(member_client.get(jobs_url(space), {"created_before": later}))) == 3


def test_search_matches_id_prefix_name_and_payload_text(member_client, space):
    invoice = create_job(space, "billing", payload={"customer": "Zebra Corp"})
    other = create_job(space, "mail", payload={"to": "x@example.com"})
    search = lambda q: ids(member_client.get(jobs_url(space), {"q": q}))  # noqa: E731
    assert search("zebra") == [str(invoice.pk)]
    assert search("bill") == [str(invoice.pk)]
    assert search(str(other.pk)[:6]) == [str(other.pk)]


def test_sorts_by_priority_and_name(member_client, space):
    low = create_job(space, "b-job", priority=-5)
    high = create_job(space, "c-job", priority=50)
    mid = create_job(space, "a-job", priority=0)
    by_priority = ids(member_client.get(jobs_url(space), {"sort": "-priority"}))
    assert by_priority == [str(high.pk), str(mid.pk), str(low.pk)]
    by_name = ids(member_client.get(jobs_url(space), {"sort": "name"}))
    assert by_name == [str(mid.pk), str(low.pk), str(high.pk)]
    oldest_first = ids(member_client.get(jobs_url(space), {"sort": "created"}))
    assert oldest_first == [str(low.pk), str(high.pk), str(mid.pk)]


def test_keyset_pages_walk_forward_and_back_without_overlap(member_client, space):
    made = [str(create_job(space, "work").pk) for _ in range(120)]
    newest_first = made[::-1]
    first = member_client.get(jobs_url(space), {"status": "pending"})
    assert ids(first) == newest_first[:50]
    html = first.content.decode()
    assert "page-prev" not in html
    next_url = re.search(r'id="page-next"', html) and re.search(
        r'<a href="([^"]+)"[^>]*id="page-next"', html
    ).group(1)
    second = member_client.get(next_url.replace("&amp;", "&"))
    assert ids(second) == newest_first[50:100]
    third_url = re.search(r'<a href="([^"]+)"[^>]*id="page-next"', second.content.decode())
    third = member_client.get(third_url.group(1).replace("&amp;", "&"))
    assert ids(third) == newest_first[100:]
    assert "page-next" not in third.content.decode()
    prev_url = re.search(r'<a href="([^"]+)"[^>]*id="page-prev"', third.content.decode())
    back = member_client.get(prev_url.group(1).replace("&amp;", "&"))
    assert ids(back) == newest_first[50:100]
    assert "status=pending" in prev_url.group(1)


def test_counts_are_capped(member_client, space, settings):
    for _ in range(3):
        create_job(space, "work")
    html = member_client.get(jobs_url(space)).content.decode()
    assert re.search(r'id="job-count">\s*3\s*jobs', html)


@pytest.mark.parametrize(
    "params",
    [
        {"status": "exploded"},
        {"sort": "payload"},
        {"created_after": "yesterday"},
        {"after": "not-a-cursor"},
        {"created_after": "2026-01-02T00:00", "created_before": "2026-01-01T00:00"},
        {"name": "x" * 65},
    ],
)
def test_bad_query_parameters_answer_400_with_the_reason(member_client, space, params):
    create_job(space, "work")
    response = member_client.get(jobs_url(space), params)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html
    assert rows(response) == []


def test_a_cursor_of_another_sort_is_refused(member_client, space):
    for _ in range(60):
        create_job(space, "work")
    html = member_client.get(jobs_url(space)).content.decode()
    cursor = re.search(r"after=([\w-]+)", html).group(1)
    response = member_client.get(jobs_url(space), {"after": cursor, "sort": "name"})
    assert response.status_code == 400
    assert "another ordering" in response.content.decode()


def test_htmx_request_gets_the_results_partial(member_client, space):
    job = create_job(space, "work")
    response = member_client.get(jobs_url(space), {"status": "pending"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="job-results"')
    assert "<html" not in html
    assert rows(response) == [(str(job.pk), "pending")]
    assert "live:event" in html
    assert "status=pending" in html  # the live refresh keeps the filter


def test_bulk_kill_of_selected_rows_goes_through_the_lifecycle(member, space):
    client = signed_in(member, csrf=False)
    busy = running(space, "work")
    waiting = create_job(space, "work")
    finished = dead(space, "work")
    response = client.post(
        jobs_url(space, "bulk/"),
        {"action": "kill", "ids": [busy.pk, waiting.pk, finished.pk], "filter_query": "q=work"},
    )
    assert response.status_code == 302
    assert response["Location"] == jobs_url(space) + "?q=work"
    assert Job.objects.get(pk=busy.pk).status == Status.KILLED
    assert Job.objects.get(pk=waiting.pk).status == Status.KILLED
    assert Job.objects.get(pk=finished.pk).status == Status.DEAD
    killed_by = JobEvent.objects.filter(type="job.killed").values_list("actor", flat=True)
    assert set(killed_by) == {f"user:{member.email}"}
    summary = AuditEntry.objects.get(action="job.bulk_kill")
    assert summary.details == {"done": 2, "skipped": 1}
    assert summary.actor == f"user:{member.email}"
    page = client.get(response["Location"]).content.decode()
    assert "Killed 2 jobs; skipped 1" in page


def test_bulk_retry_of_all_matching_the_filter(member_client, space):
    broken = [dead(space, "resize") for _ in range(3)]
    other = dead(space, "mail")
    response = member_client.post(
        jobs_url(space, "bulk/"),
        {"action": "retry", "scope": "all", "filter_query": "status=dead&name=resize"},
    )
    assert response.status_code == 302
    assert {j.status for j in Job.objects.filter(pk__in=[j.pk for j in broken])} == {"pending"}
    assert Job.objects.get(pk=other.pk).status == Status.DEAD
    assert JobEvent.objects.filter(type="job.pending", data__reason="retry").count() == 3


def test_bulk_cancel_skips_running_jobs(member_client, space):
    waiting = create_job(space, "work")
    busy = running(space, "work")
    member_client.post(jobs_url(space, "bulk/"), {"action": "cancel", "ids": [waiting.pk, busy.pk]})
    assert Job.objects.get(pk=waiting.pk).status == Status.CANCELLED
    assert Job.objects.get(pk=busy.pk).status == Status.RUNNING


def test_bulk_action_never_reaches_another_spaces_job(member_client, space, other_space):
    foreign = create_job(other_space, "work")
    response = member_client.post(jobs_url(space, "bulk/"), {"action": "kill", "ids": [foreign.pk]})
    assert response.status_code == 302
    assert Job.objects.get(pk=foreign.pk).status == Status.PENDING


@pytest.mark.parametrize(
    "data",
    [
        {"action": "explode", "ids": ["00000000-0000-0000-0000-000000000001"]},
        {"action": "kill"},
        {"action": "kill", "ids": ["not-a-uuid"]},
        {"action": "kill", "scope": "all", "filter_query": "status=exploded"},
    ],
)
def test_bad_bulk_requests_answer_400_and_change_nothing(member_client, space, data):
    job = create_job(space, "work")
    response = member_client.post(jobs_url(space, "bulk/"), data)
    assert response.status_code == 400
    assert "Nothing was changed" in response.content.decode() or "nothing was changed" in (
        response.content.decode()
    )
    assert Job.objects.get(pk=job.pk).status == Status.PENDING


def test_bulk_needs_csrf_and_membership(member, stranger_client, space):
    job = create_job(space, "work")
    strict = signed_in(member, csrf=True)
    assert (
        strict.post(jobs_url(space, "bulk/"), {"action": "kill", "ids": [job.pk]}).status_code
        == 403
    )
    assert (
        stranger_client.post(
            jobs_url(space, "bulk/"), {"action": "kill", "ids": [job.pk]}
        ).status_code
        == 404
    )
    assert Job.objects.get(pk=job.pk).status == Status.PENDING


def test_bulk_is_capped_per_click(member_client, space, monkeypatch):
    from jobs.lifecycle import bulk
    from jobs.views import jobs as views

    monkeypatch.setattr(views, "MAX_PER_CLICK", 2)
    monkeypatch.setattr(bulk, "MAX_PER_CLICK", 2)
    made = [create_job(space, "work") for _ in range(3)]
    response = member_client.post(
        jobs_url(space, "bulk/"), {"action": "cancel", "scope": "all"}, follow=True
    )
    assert Job.objects.filter(pk__in=[j.pk for j in made], status="cancelled").count() == 2
    assert "Only the first 2 matching jobs were handled" in response.content.decode()


def test_a_read_past_the_time_limit_is_cancelled_and_the_connection_stays_usable(db):
    from django.db import connection

    from jobs import queries

    with pytest.raises(queries.TooSlow), queries.time_limit(50), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(2)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)

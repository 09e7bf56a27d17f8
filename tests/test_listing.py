from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import lifecycle
from tests.conftest import SYSTEM, create_job


def ids(response) -> list[str]:
    return [row["id"] for row in response.json()]


@pytest.fixture
def tagged(space):
    return {
        "array": create_job(space, "mail", tags=["urgent", "billing"]),
        "object": create_job(space, "mail", tags={"urgent": True, "team": "core"}),
        "other": create_job(space, "report", tags=["later"]),
        "none": create_job(space, "report"),
    }


def test_tag_filter_matches_array_items_and_object_keys(api, tagged):
    r = api.producer.get("/api/v1/jobs", {"tag": "urgent"})
    assert set(ids(r)) == {str(tagged["array"].id), str(tagged["object"].id)}
    assert ids(api.producer.get("/api/v1/jobs", {"tag": "team"})) == [str(tagged["object"].id)]
    assert ids(api.producer.get("/api/v1/jobs", {"tag": "core"})) == []


def test_tag_filter_stays_inside_the_space(api, tagged, other_space):
    foreign = create_job(other_space, "mail", tags=["urgent"])
    assert str(foreign.id) not in ids(api.producer.get("/api/v1/jobs", {"tag": "urgent"}))


def test_filters_by_name_status_and_dates(api, space, tagged):
    assert len(ids(api.producer.get("/api/v1/jobs", {"name": "report"}))) == 2
    assert len(ids(api.producer.get("/api/v1/jobs", {"queue_name": "mail,report"}))) == 4
    lifecycle.poll(space, limit=1, names=["mail"], actor=SYSTEM)
    assert len(ids(api.producer.get("/api/v1/jobs", {"status": "delivered"}))) == 1
    assert len(ids(api.producer.get("/api/v1/jobs", {"status": "processing"}))) == 1
    assert len(ids(api.producer.get("/api/v1/jobs", {"status": "pending,processing"}))) == 4
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert ids(api.producer.get("/api/v1/jobs", {"created_after": future})) == []
    assert len(ids(api.producer.get("/api/v1/jobs", {"created_before": future}))) == 4


def test_free_search_by_id_prefix_name_and_payload(api, space):
    job = create_job(space, "invoice-send", payload={"customer": "Zebra Corp"})
    create_job(space, "other", payload={"customer": "Acme"})
    assert ids(api.producer.get("/api/v1/jobs", {"q": str(job.id)[:8]})) == [str(job.id)]
    assert ids(api.producer.get("/api/v1/jobs", {"q": "INVOICE"})) == [str(job.id)]
    assert ids(api.producer.get("/api/v1/jobs", {"q": "zebra"})) == [str(job.id)]


def test_job_type_is_an_exact_match_on_the_payload(api, space):
    job = create_job(space, "x", payload={"job_type": "resize"})
    create_job(space, "x", payload={"job_type": "resize-big"})
    assert ids(api.producer.get("/api/v1/jobs", {"job_type": "resize"})) == [str(job.id)]


def test_offset_paging_reports_has_more(api, space):
    made = [create_job(space, "p") for _ in range(5)]
    r1 = api.producer.get("/api/v1/jobs", {"limit": 2, "order_dir": "asc"})
    r3 = api.producer.get("/api/v1/jobs", {"limit": 2, "offset": 4, "order_dir": "asc"})
    assert r1["X-Has-More"] == "true"
    assert r3["X-Has-More"] == "false"
    assert ids(r1) == [str(j.id) for j in made[:2]]
    assert ids(r3) == [str(made[4].id)]


def test_cursor_paging_walks_every_job_once(api, space):
    made = {str(create_job(space, "c", priority=i % 3).id) for i in range(7)}
    seen, params = [], {"limit": 3, "order_by": "priority"}
    while True:
        r = api.producer.get("/api/v1/jobs", params)
        assert r.status_code == 200
        seen += ids(r)
        if r["X-Has-More"] == "false":
            assert "X-Next-Cursor" not in r
            break
        params = {**params, "cursor": r["X-Next-Cursor"]}
    assert sorted(seen) == sorted(made)
    assert len(seen) == 7


def test_cursor_of_another_ordering_is_refused(api, space):
    for _ in range(3):
        create_job(space, "c")
    cursor = api.producer.get("/api/v1/jobs", {"limit": 1})["X-Next-Cursor"]
    r = api.producer.get("/api/v1/jobs", {"limit": 1, "order_by": "name", "cursor": cursor})
    assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")


def test_summary_has_spooled_fields_and_no_payload(api, space):
    create_job(space, "s", payload={"job_type": "t", "secret": "x"})
    (row,) = api.producer.get("/api/v1/jobs").json()
    assert {
        "id",
        "queue_name",
        "name",
        "status",
        "priority",
        "retry_count",
        "created_at",
        "job_type",
        "progress",
    } <= set(row)
    assert "payload" not in row
    assert row["job_type"] == "t"
    assert row["created_at"].endswith("Z")


def test_stats_and_batch_status(api, space, other_space):
    pending = create_job(space, "a")
    dead = create_job(space, "a", max_retries=0)
    (d,) = lifecycle.poll(space, limit=1, names=["a"], actor=SYSTEM)
    assert d.id == pending.id
    (d2,) = lifecycle.poll(space, limit=1, actor=SYSTEM)
    lifecycle.fail(lifecycle.ack(d2, actor=SYSTEM), error="x", actor=SYSTEM)
    foreign = create_job(other_space, "a")
    stats = api.producer.get("/api/v1/jobs/stats").json()
    assert stats == {
        "pending": 0,
        "scheduled": 0,
        "processing": 1,
        "completed": 0,
        "failed": 0,
        "deadletter": 1,
        "cancelled": 0,
        "total": 2,
    }
    r = api.producer.get("/api/v1/jobs/status", {"ids": f"{dead.id},{foreign.id},{pending.id}"})
    assert [(row["id"], row["status"]) for row in r.json()] == [
        (str(dead.id), "dead"),
        (str(pending.id), "delivered"),
    ]

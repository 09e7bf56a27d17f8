"""Bulk creation: per-item answers as a lone create would give them, a few statements."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from emitrun import realtime
from emitrun.errors import DomainError
from jobs import lifecycle
from jobs.api.fields import snake_keys
from jobs.api.items import plain_spec
from jobs.api.producer import _flatten
from jobs.api.serializers import BulkCreateInput, CreateJobInput
from jobs.models import Job, JobEvent, JobTag
from notifications.models import Delivery
from spaces import actions as space_actions
from tests.conftest import SYSTEM, create_job

URL = "/api/v1/jobs/bulk"


def lone_error(body: dict, item: object) -> str:
    """The failure a serializer of its own gives the item (how the bulk judged items)."""
    batch = BulkCreateInput(data={**body, "jobs": [item]})
    batch.is_valid(raise_exception=True)
    try:
        serializer = CreateJobInput(data=batch.item_data(item))
        assert not serializer.is_valid()
        return _flatten(serializer.errors)
    except ValidationError as exc:
        return _flatten(exc.detail)
    except DomainError as exc:
        return exc.message


def assert_written_in_one_transaction(ctx: CaptureQueriesContext, *tables: str) -> None:
    """Every table was written between the request's BEGIN and its COMMIT."""
    sql = [q["sql"] for q in ctx.captured_queries]
    begin = next(i for i, q in enumerate(sql) if q.startswith("BEGIN"))
    commit = next(i for i, q in enumerate(sql) if q.startswith("COMMIT"))
    inside = " ".join(sql[begin:commit])
    for table in tables:
        assert table in inside, table


TOO_BIG = {"payload": "x" * (settings.EMITRUN_MAX_PAYLOAD_BYTES + 1)}  # a 413 when alone
BAD_ITEMS = [
    {"priority": "high"},
    {"priority": 101},
    {"priority": 1.5},
    {"priority": True},
    {"priority": None},
    {"name": "Bad Name"},
    {"name": ""},
    {"name": 5},
    {"name": "n" * 65},
    {"name": None},
    {"queueName": "a", "name": "b"},
    {"payload": {"n": 1}, "maxRetries": -1, "timeoutSeconds": 0},
    {"max_retries": 101},
    {"timeout_seconds": "30"},
    {"tags": "x"},
    {"tags": 5},
    {"tags": ["t"] * 101},
    {"tags": ["t" * 256]},
    {"tags": {"k" * 256: 1}},
    {"idempotency_key": 5},
    {"idempotency_key": "k" * 256},
    {"idempotencyKey": ""},
    {"scheduled_for": "tomorrow"},
    {"scheduledAt": 5},
    {"callback_url": "not a url"},
    {"callback_url": "ftp://example.com/x"},
    {"completion_webhook": "http://127.0.0.1/hook"},
    {"callback_headers": "x"},
    {"callback_headers": {"X-Ok": 5}},
    {"callback_secret": 5},
    {"callback_secret": "s" * 256},
    TOO_BIG,
    "not an object",
    5,
    [],
    ["a"],
]


@pytest.mark.parametrize("body", [{"name": "batch"}, {}], ids=["named", "unnamed"])
def test_each_bad_item_fails_as_it_would_alone(api, body):
    good = {"payload": 1, "name": "own"}
    items = [good, *BAD_ITEMS, good]
    r = api.producer.post(URL, {**body, "jobs": items})
    assert r.status_code == 200, r.content
    out = r.json()
    assert [s["index"] for s in out["succeeded"]] == [0, len(items) - 1]
    assert [f["index"] for f in out["failed"]] == list(range(1, len(items) - 1))
    assert [f["error"] for f in out["failed"]] == [lone_error(body, item) for item in BAD_ITEMS]


def test_item_errors_keep_their_wording(api):
    items = [{"priority": "high"}, {}, 5, {"name": "a", "queueName": "b"}]
    out = api.producer.post(URL, {"jobs": items}).json()
    assert [f["error"] for f in out["failed"]] == [
        "name: This field is required.; priority: A valid integer is required.",
        "name: This field is required.",
        "non_field_errors: expected a JSON object",
        "queue_name: conflicts with name; give one of them",
    ]


@pytest.mark.parametrize("data", [None, {"name": "Bad"}, {"name": "a", "priority": "x"}])
def test_a_reused_input_reports_what_a_fresh_one_does(data):
    fresh = CreateJobInput(data=data)
    assert not fresh.is_valid()
    with pytest.raises(ValidationError) as caught:
        CreateJobInput().spec_of(data)
    assert caught.value.detail == fresh.errors


@pytest.mark.parametrize("item", [i for i in BAD_ITEMS if i is not TOO_BIG])
def test_a_bad_single_create_is_refused_as_the_serializer_words_it(api, item):
    body = {"name": "own", **item} if isinstance(item, dict) else item
    r = api.producer.post("/api/v1/jobs", body)
    fresh = CreateJobInput(data=body)
    assert not fresh.is_valid()
    assert (r.status_code, r.json()["details"]) == (400, fresh.errors)


PLAIN = [
    {"name": "a"},
    {"name": "a.b_c-9", "payload": {"n": [1, None, "é"]}, "priority": -100},
    {"name": "a", "payload": None, "priority": 100, "maxRetries": 0, "timeoutSeconds": 86400},
    {"queue_name": "a", "tags": ["x", 1, None], "idempotencyKey": "order-7"},
    {"name": "a", "tags": {"k": 1}, "idempotency_key": None, "tags_extra": 1, "jobType": "x"},
    {"name": "a", "payload": "x" * 100, "tags": None, "max_retries": 100, "timeout_seconds": 1},
]
FULL_CHECK = [
    {"name": " a "},
    {"name": "a\n"},
    {"name": "a", "idempotency_key": " k"},
    {"name": "a", "idempotency_key": "clé"},
    {"name": "a", "priority": 5.0},
    {"name": "a", "scheduled_for": "2030-01-01T00:00:00Z"},
    {"name": "a", "scheduled_for": None},
    {"name": "a", "callback_url": "https://example.com/h", "callback_headers": {"X-A": "1"}},
    {"name": "a", "callback_url": "", "callback_secret": ""},
]


@pytest.mark.parametrize("data", PLAIN + FULL_CHECK)
def test_a_reused_input_accepts_what_a_fresh_one_does(data):
    fresh = CreateJobInput(data=data)
    assert fresh.is_valid(), fresh.errors
    assert CreateJobInput().spec_of(data) == fresh.spec()


def test_plain_items_skip_the_serializer_fields():
    assert all(plain_spec(snake_keys(d, CreateJobInput.aliases)) for d in PLAIN)
    assert not any(plain_spec(snake_keys(d, CreateJobInput.aliases)) for d in FULL_CHECK)


# --- What is stored ---------------------------------------------------------------------


def spec(**fields) -> lifecycle.JobSpec:
    return lifecycle.JobSpec(**{"name": "work", **fields})


def test_stored_jobs_are_the_jobs_answered(space):
    later = timezone.now() + timedelta(hours=1)
    specs = [
        spec(),
        spec(name="other", payload={"n": [1, None, "é"]}, priority=-7, max_retries=0),
        spec(tags=["a", "b", 3], idempotency_key="k-1", timeout_seconds=9),
        spec(tags={"x": 1, "y": None}, scheduled_for=later, payload="text"),
        spec(
            callback_url="https://example.com/h", callback_headers={"X-A": "1"}, callback_secret="s"
        ),
    ]
    made = lifecycle.create_many(space, specs, actor=SYSTEM)
    columns = [f.attname for f in Job._meta.concrete_fields]
    for result in made:
        stored = Job.objects.get(pk=result.job.pk)
        assert [getattr(stored, c) for c in columns] == [getattr(result.job, c) for c in columns]
    assert [r.job.status for r in made] == ["pending"] * 3 + ["scheduled", "pending"]


def test_every_created_job_gets_its_tags_and_one_created_event(space):
    specs = [spec(tags=["a", "a", "b"]), spec(tags={"k": 1}), spec(), spec(tags=[1, None])]
    made = [r.job for r in lifecycle.create_many(space, specs, actor=SYSTEM)]
    tags = {
        job.pk: sorted(JobTag.objects.filter(job=job).values_list("tag", flat=True)) for job in made
    }
    assert list(tags.values()) == [["a", "b"], ["k"], [], []]
    events = JobEvent.objects.filter(space=space).order_by("id")
    assert [(e.job_id, e.type, e.data) for e in events] == [
        (job.pk, "job.created", {"name": "work", "priority": 0}) for job in made
    ]


def test_a_bulk_answers_used_keys_and_twins_with_one_job(api, space):
    first = api.producer.post("/api/v1/jobs", {"name": "work", "idempotency_key": "old"}).json()
    items = [
        {"idempotency_key": "old"},
        {"idempotency_key": "new"},
        {"idempotency_key": "new"},
        {},
    ]
    out = api.producer.post(URL, {"name": "work", "jobs": items}).json()
    answers = [(s["job_id"], s["created"]) for s in out["succeeded"]]
    new = Job.objects.get(space=space, idempotency_key="new")
    assert answers[:3] == [(first["id"], False), (str(new.pk), True), (str(new.pk), False)]
    assert answers[3][1] is True
    assert Job.objects.filter(space=space).count() == 3
    assert JobEvent.objects.filter(space=space, type="job.created").count() == 3


def test_a_bulk_publishes_every_created_event_after_commit(
    api, space, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as hooks:
        out = api.producer.post(URL, {"name": "work", "jobs": [{}, {}, {}]}).json()
    published = [m for hook in hooks if hook.func is realtime.publish for m in hook.args[0]]
    assert [(m["job_id"], m["type"]) for m in published] == [
        (s["job_id"], "job.created") for s in out["succeeded"]
    ]


# Transactional: the request's own transaction is then BEGIN/COMMIT, not a savepoint.
@pytest.mark.django_db(transaction=True)
def test_bulk_statements_do_not_grow_with_the_batch(api, space):
    def statements_for(n: int) -> list[str]:
        body = {"name": "work", "jobs": [{"payload": i, "tags": ["t"]} for i in range(n)]}
        with CaptureQueriesContext(connection) as ctx:
            assert api.producer.post(URL, body).json()["success_count"] == n
        return [q["sql"].split()[0] for q in ctx.captured_queries]

    statements_for(1)  # the token's first use and the queue's creation
    # The jobs, their tags, their events; after commit one wake for the waiting polls.
    expected = ["BEGIN", "INSERT", "INSERT", "INSERT", "COMMIT", "SELECT"]
    assert statements_for(2) == statements_for(100) == expected


@pytest.mark.django_db(transaction=True)
def test_a_plain_bulk_is_one_statement_a_keyed_one_a_transaction(api, space):
    """Jobs without keys or tags are stored with their events by one statement, its own
    transaction (then the wake-up's NOTIFY), whatever the batch size.
    """
    api.producer.post(URL, {"name": "work", "jobs": [{}]})  # token and queue are known now
    for items, expected in [
        ([{"payload": i} for i in range(100)], ["WITH", "SELECT"]),
        (
            [{"payload": 1}, {"idempotency_key": "k"}],
            ["BEGIN", "SELECT", "SAVEPOINT", "INSERT", "RELEASE", "INSERT", "COMMIT", "SELECT"],
        ),
    ]:
        with CaptureQueriesContext(connection) as ctx:
            out = api.producer.post(URL, {"name": "work", "jobs": items}).json()
        assert out["success_count"] == len(items), out
        assert [q["sql"].split()[0] for q in ctx.captured_queries] == expected
        ids = [s["job_id"] for s in out["succeeded"]]
        events = JobEvent.objects.filter(job_id__in=ids, type="job.created")
        assert sorted(str(e.job_id) for e in events) == sorted(ids)
        # Seqs in the order of the batch, as the answer lists the jobs.
        assert [str(e.job_id) for e in events.order_by("id")] == ids


@pytest.mark.django_db(transaction=True)
def test_a_bulk_that_calls_for_pushes_writes_them_in_the_jobs_transaction(api, space):
    api.producer.post(URL, {"name": "work", "jobs": [{}]})
    space_actions.update_settings(space, push_url="https://push.example.test/wake")
    with CaptureQueriesContext(connection) as ctx:
        out = api.producer.post(URL, {"name": "work", "jobs": [{}, {}]}).json()
    assert_written_in_one_transaction(ctx, "jobs_job ", "jobs_jobevent", "notifications_delivery")
    ids = [s["job_id"] for s in out["succeeded"]]
    assert Delivery.objects.filter(job_id__in=ids, kind="push").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_plain_create_is_one_statement_and_a_keyed_one_a_transaction(api):
    """A job with its event in one statement (then the wake-up's NOTIFY); an idempotency
    key, tags or a delivery to write need the transaction.
    """
    api.producer.post("/api/v1/jobs", {"name": "work"})  # token and queue are known now
    for body, expected in [
        ({"name": "work"}, ["WITH", "SELECT"]),
        (
            {"name": "work", "tags": ["a"]},
            ["BEGIN", "INSERT", "INSERT", "INSERT", "COMMIT", "SELECT"],
        ),
        (
            {"name": "work", "idempotency_key": "k"},
            ["BEGIN", "SELECT", "SAVEPOINT", "INSERT", "RELEASE", "INSERT", "COMMIT", "SELECT"],
        ),
    ]:
        with CaptureQueriesContext(connection) as ctx:
            assert api.producer.post("/api/v1/jobs", body).status_code == 201
        assert [q["sql"].split()[0] for q in ctx.captured_queries] == expected


@pytest.mark.django_db(transaction=True)
def test_a_create_that_calls_for_a_push_writes_it_in_the_jobs_transaction(space):
    create_job(space, "email")  # the queue is known now
    conf = space.settings
    conf.push_url = "https://push.example.test/wake"
    conf.save()
    with CaptureQueriesContext(connection) as ctx:
        job = create_job(space, "email")
    assert_written_in_one_transaction(ctx, "jobs_job ", "jobs_jobevent", "notifications_delivery")
    assert Delivery.objects.filter(job=job, kind="push").count() == 1


def test_events_take_their_seq_in_the_order_they_were_recorded(space):
    specs = [lifecycle.JobSpec(name="seq", payload={"i": i}) for i in range(60)]
    created = lifecycle.create_many(space, specs, actor=SYSTEM)
    events = list(JobEvent.objects.filter(space=space, type="job.created").order_by("id"))
    assert [e.job_id for e in events] == [c.job.id for c in created]
    assert all(e.data == {"name": "seq", "priority": 0} for e in events)
    (job,) = [c.job for c in created[:1]]
    lifecycle.cancel(job, actor=SYSTEM)
    last = JobEvent.objects.filter(job=job).latest("id")
    assert (last.type, last.status, last.actor) == ("job.cancelled", "cancelled", SYSTEM.label)


@pytest.mark.django_db
def test_jobs_and_events_built_without_the_constructor_equal_constructed_ones(space):
    from django.db.models.signals import pre_init

    from jobs.lifecycle import rows

    job = create_job(space, payload={"n": 1}, tags=["a"])
    event = JobEvent.objects.filter(job=job).get()
    for obj in (Job.objects.get(pk=job.pk), event):
        model = type(obj)
        values = [getattr(obj, f.attname) for f in model._meta.concrete_fields]
        built, constructed = rows.build(model, values), model(*values)
        assert {k: v for k, v in vars(built).items() if k != "_state"} == {
            k: v for k, v in vars(constructed).items() if k != "_state"
        }
        assert (built._state.adding, built._state.db) == (True, None)
        assert (constructed._state.adding, constructed._state.db) == (True, None)

    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    pre_init.connect(receiver, sender=Job)
    try:
        values = [getattr(job, f.attname) for f in Job._meta.concrete_fields]
        rows.build(Job, values)
    finally:
        pre_init.disconnect(receiver, sender=Job)
    assert seen == [Job]  # a receiver connected: the constructor ran, and sent the signal

"""Creating jobs: - -> pending, or - -> scheduled when scheduled_for is in the future."""

import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.lifecycle import rows
from jobs.lifecycle.core import Actor, new_events, record_many
from jobs.models import Job, JobTag, Queue, Status
from notifications import outbox
from spaces.models import Space

# Queue defaults are cached per process: a config change made in another process is
# seen within this many seconds.
_QUEUE_CACHE_SECONDS = 60.0
_known_queues: dict[tuple[str, str], tuple[float, int, int]] = {}


@dataclass
class JobSpec:
    """A validated request to create a job (the API's serializers build these)."""

    name: str
    payload: Any = None
    priority: int = 0
    tags: list | dict | None = None
    idempotency_key: str | None = None
    max_retries: int | None = None  # None: the queue's default (3 unless configured)
    timeout_seconds: int | None = None  # None: the queue's default (300 unless configured)
    scheduled_for: datetime | None = None
    callback_url: str = ""
    callback_headers: dict[str, str] = field(default_factory=dict)
    callback_secret: str = ""


@dataclass
class Created:
    job: Job
    created: bool


def tag_names(tags: list | dict | None) -> list[str]:
    """Postgres `tags ? x` semantics: an array's string items, or an object's keys."""
    if isinstance(tags, dict):
        names = [str(key) for key in tags]
    elif isinstance(tags, list):
        names = [item for item in tags if isinstance(item, str)]
    else:
        names = []
    return list(dict.fromkeys(names))


def create(space: Space, spec: JobSpec, *, actor: Actor) -> Created:
    """- -> pending | scheduled. An idempotency key already used in the space returns
    that job (whatever its state) with created=False.

    A job with no idempotency key, no tags and no delivery to write (Slack, push) is
    stored with its event in one statement, its own transaction (PostgreSQL):
    one round trip where BEGIN, two INSERTs and COMMIT took four.
    """
    if spec.idempotency_key or tag_names(spec.tags) or not rows.postgres():
        return _create(space, spec, actor=actor)
    now = timezone.now()
    defaults = ensure_queues(space, {spec.name})
    job = _new_job(space, spec, now, defaults[spec.name])
    entries = [(job, "job.created", _created_data(job))]
    (event,) = new_events(entries, actor=actor, at=now)
    if outbox.rows_for([(job, event)]):  # a push (or Slack) to write with the job
        return _create(space, spec, actor=actor)
    insert = partial(rows.insert_jobs_and_events, [job])
    record_many(entries, actor=actor, now=now, insert=insert)
    return Created(job, True)


@transaction.atomic
def _create(space: Space, spec: JobSpec, *, actor: Actor) -> Created:
    """create() in a transaction: the idempotency key's lookup and savepoint, the tags and
    the deliveries join the job and its event.
    """
    key = spec.idempotency_key
    if key:
        existing = _by_key(space, [key]).get(key)
        if existing is not None:
            return Created(existing, False)
    defaults = ensure_queues(space, {spec.name})
    job = _new_job(space, spec, timezone.now(), defaults[spec.name])
    try:
        with _savepoint_if(bool(key)):  # a concurrent twin may win the unique key
            rows.insert_jobs([job])
    except IntegrityError:
        twin = _by_key(space, [key]).get(key) if key else None
        if twin is None:
            raise
        return Created(twin, False)
    _add_tags([job])
    record_many([(job, "job.created", _created_data(job))], actor=actor, now=job.created_at)
    return Created(job, True)


def create_many(space: Space, specs: list[JobSpec], *, actor: Actor) -> list[Created]:
    """Creates up to 100 jobs in a few statements; same per-job rules as create().

    Jobs with no idempotency key and no tags, in a space with no delivery to write for a
    new job (Slack, push), are stored with their events in one statement, its own
    transaction (PostgreSQL), as create() stores one: one round trip where BEGIN, two
    INSERTs and COMMIT took four.
    """
    if (
        not rows.postgres()
        or any(spec.idempotency_key or tag_names(spec.tags) for spec in specs)
        or outbox.may_write(space, "job.created")
    ):
        return _create_many(space, specs, actor=actor)
    now = timezone.now()
    defaults = ensure_queues(space, {spec.name for spec in specs})
    jobs = [_new_job(space, spec, now, defaults[spec.name]) for spec in specs]
    entries = [(job, "job.created", _created_data(job)) for job in jobs]
    record_many(entries, actor=actor, now=now, insert=partial(rows.insert_jobs_and_events, jobs))
    return [Created(job, True) for job in jobs]


@transaction.atomic
def _create_many(space: Space, specs: list[JobSpec], *, actor: Actor) -> list[Created]:
    """create_many() in a transaction: idempotency keys, tags and deliveries."""
    keys = [s.idempotency_key for s in specs if s.idempotency_key]
    found = _by_key(space, keys) if keys else {}
    now = timezone.now()
    defaults = ensure_queues(space, {spec.name for spec in specs})
    results: list[Created] = []
    fresh: list[Job] = []
    for spec in specs:
        key = spec.idempotency_key
        if key and key in found:
            results.append(Created(found[key], False))
            continue
        job = _new_job(space, spec, now, defaults[spec.name])
        if key:
            found[key] = job  # a later twin in the same batch gets this job
        fresh.append(job)
        results.append(Created(job, True))
    if not fresh:
        return results
    keyed = any(job.idempotency_key for job in fresh)
    try:
        with _savepoint_if(keyed):
            rows.insert_jobs(fresh)
    except IntegrityError:
        if not keyed:
            raise
        # A concurrent request used one of the keys meanwhile: fall back to one by one.
        return [create(space, spec, actor=actor) for spec in specs]
    _add_tags(fresh)
    record_many([(job, "job.created", _created_data(job)) for job in fresh], actor=actor, now=now)
    return results


def ensure_queues(space: Space, names: set[str]) -> dict[str, tuple[int, int]]:
    """Queues exist once a job names them (made here). Returns each queue's defaults,
    (max_retries, default_timeout_seconds), cached briefly per process.
    """
    now = time.monotonic()
    out: dict[str, tuple[int, int]] = {}
    missing = []
    for name in names:
        hit = _known_queues.get((str(space.pk), name))
        if hit is not None and hit[0] > now:
            out[name] = hit[1:]
        else:
            missing.append(name)
    if missing:
        Queue.objects.bulk_create(
            [Queue(space=space, name=n) for n in missing], ignore_conflicts=True
        )
        rows = Queue.objects.filter(space=space, name__in=missing).values_list(
            "name", "max_retries", "default_timeout_seconds"
        )
        for name, retries, timeout in rows:
            _known_queues[(str(space.pk), name)] = (now + _QUEUE_CACHE_SECONDS, retries, timeout)
            out[name] = (retries, timeout)
    return out


def forget_queue(space: Space, name: str) -> None:
    _known_queues.pop((str(space.pk), name), None)


def _savepoint_if(keyed: bool) -> AbstractContextManager:
    """A savepoint to recover from a lost idempotency key. The key's is the only unique
    constraint a new job can break, so jobs without one skip its two round trips.
    """
    return transaction.atomic() if keyed else nullcontext()


def _by_key(space: Space, keys: list[str]) -> dict[str, Job]:
    jobs = Job.objects.filter(space=space, idempotency_key__in=keys)
    out = {}
    for job in jobs:
        job.space = space
        out[job.idempotency_key] = job
    return out


def _new_job(space: Space, spec: JobSpec, now: datetime, defaults: tuple[int, int]) -> Job:
    retries, timeout = defaults
    later = spec.scheduled_for is not None and spec.scheduled_for > now
    values = {
        **_UNSET,
        "id": uuid.uuid4(),
        "space_id": space.pk,
        "name": spec.name,
        "status": Status.SCHEDULED if later else Status.PENDING,
        "payload": spec.payload,
        "priority": spec.priority,
        "tags": spec.tags,
        "idempotency_key": spec.idempotency_key or None,
        "max_retries": retries if spec.max_retries is None else spec.max_retries,
        "timeout_seconds": timeout if spec.timeout_seconds is None else spec.timeout_seconds,
        "scheduled_for": spec.scheduled_for,
        "run_at": spec.scheduled_for if later else now,
        "callback_url": spec.callback_url or "",
        "callback_headers": spec.callback_headers or None,
        "callback_secret": spec.callback_secret or "",
        "created_at": now,
        "updated_at": now,
    }
    # Built from the values in column order (rows.build): no keyword and default handling
    # per field, which counts a hundred times per bulk.
    job = rows.build(Job, [values[column] for column in _COLUMNS])
    Job.space.field.set_cached_value(job, space)  # space_id is set above
    return job


_COLUMNS = [f.attname for f in Job._meta.concrete_fields]
# What a new job holds in the columns _new_job does not set. A column with a callable
# default must be set in _new_job (a KeyError there says so); tests/test_bulk_create.py
# compares stored rows with the objects.
_UNSET = {
    f.attname: f.get_default()
    for f in Job._meta.concrete_fields
    if not (f.has_default() and callable(f.default))
}


def _add_tags(jobs: list[Job]) -> None:
    tags = [
        JobTag(job=job, space_id=job.space_id, tag=tag)
        for job in jobs
        for tag in tag_names(job.tags)
    ]
    if tags:
        rows.insert_tags(tags)


def _created_data(job: Job) -> dict:
    data: dict[str, Any] = {"name": job.name, "priority": job.priority}
    if job.status == Status.SCHEDULED:
        data["scheduled_for"] = job.run_at.isoformat().replace("+00:00", "Z")
    return data

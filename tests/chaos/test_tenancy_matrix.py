"""Every API route that names an object, with an all-scopes token of another organization's
space: always 404 with the error body, never data, never a change. Built from the URL
resolver, so a new route joins the matrix by existing.
"""

import json
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.urls import URLPattern, URLResolver, get_resolver

from emitrun.asgi import application
from jobs import lifecycle
from jobs.models import Job, JobEvent, Queue
from tests.conftest import SYSTEM, create_job

METHODS = ["get", "post", "put", "patch", "delete"]


def api_routes() -> list[tuple[str, list[str]]]:
    """(route with <params>, methods its view implements) for every /api/v1 route."""
    found: list[tuple[str, list[str]]] = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                view = getattr(p.callback, "cls", None)
                methods = [m for m in METHODS if view is not None and hasattr(view, m)]
                if route.startswith("api/v1/") and "<" in route:
                    found.append((route, methods or ["get"]))

    walk(get_resolver().url_patterns, "")
    return found


ROUTES = api_routes()


@pytest.fixture
def victim(space, api):
    """A's objects: a running job, a dead one, a registered worker, a paused queue."""
    running = create_job(space, "work", payload={"secret": "a-payload"})
    (delivered,) = lifecycle.poll(space, limit=1, names=["work"], actor=SYSTEM)
    running = lifecycle.ack(delivered, actor=SYSTEM)
    dead = create_job(space, "gone", max_retries=0)
    (d,) = lifecycle.poll(space, limit=1, names=["gone"], actor=SYSTEM)
    dead = lifecycle.fail(lifecycle.ack(d, actor=SYSTEM), error="x", actor=SYSTEM)
    r = api.admin.post("/api/v1/workers/register", {"queue_name": "work", "hostname": "a-host"})
    assert r.status_code in (200, 201), r.content
    worker_id = r.json().get("worker_id") or r.json()["id"]
    assert api.admin.post("/api/v1/queues/work/pause").status_code == 200
    return {"job_id": running.id, "dead": dead, "worker_id": worker_id, "space_id": space.id}


def snapshot(space) -> list[tuple]:
    jobs = Job.objects.filter(space=space).order_by("id")
    rows = list(jobs.values_list("id", "status", "lease_id", "priority", "updated_at"))
    queues = Queue.objects.filter(space=space).order_by("name")
    return [*rows, *queues.values_list("name", "paused"), JobEvent.objects.count()]


def test_the_matrix_covers_every_kind_of_object():
    params = {
        param
        for route, _ in ROUTES
        for param in ("job_id", "space_id", "worker_id", "name")
        if param in route
    }
    assert params == {"job_id", "space_id", "worker_id", "name"}
    assert len(ROUTES) >= 25


@pytest.mark.django_db
def test_a_foreign_token_gets_404_on_every_route_naming_an_object_and_changes_nothing(
    space, api, victim
):
    before = snapshot(space)
    answered = 0
    missing = {"job_id": uuid.uuid4(), "space_id": uuid.uuid4(), "worker_id": uuid.uuid4()}
    for route, methods in ROUTES:
        url, nowhere = "/" + route, "/" + route
        for param in ("job_id", "space_id", "worker_id"):
            url = url.replace(f"<str:{param}>", str(victim[param]))
            nowhere = nowhere.replace(f"<str:{param}>", str(missing[param]))
        url = url.replace("<str:name>", "work")
        for method in methods:
            r = getattr(api.foreign, method)(url, {}, format="json")
            body = r.content.decode()
            assert str(victim["job_id"]) not in body or r.status_code == 404, (method, url, body)
            assert "a-payload" not in body, (method, url, body)
            assert "a-host" not in body, (method, url, body)
            if "<str:name>" not in route:  # a queue name is per space: B may have its own
                # Indistinguishable from an id that exists nowhere (404, or 405 on a
                # method the route never takes).
                alike = getattr(api.foreign, method)(nowhere, {}, format="json")
                assert r.status_code in (404, 405), (method, url, r.status_code, body)
                assert (r.status_code, r.json()["code"]) == (
                    alike.status_code,
                    alike.json()["code"],
                )
            answered += 1
    assert answered >= 30
    assert snapshot(space) == before


@pytest.mark.django_db
def test_foreign_lists_and_batches_hold_nothing_of_another_space(space, api, victim):
    before = snapshot(space)
    job_id, dead = str(victim["job_id"]), victim["dead"]
    for url in ["/api/v1/jobs", "/api/v1/jobs/dlq", "/api/v1/queues", "/api/v1/workers"]:
        r = api.foreign.get(url)
        assert r.status_code == 200
        assert job_id not in r.content.decode()
        assert "a-host" not in r.content.decode()
    r = api.foreign.get(f"/api/v1/jobs/status?ids={job_id},{dead.id}")
    assert r.status_code in (200, 404)
    assert job_id not in r.content.decode()
    r = api.foreign.post("/api/v1/jobs/dlq/retry", {"job_ids": [str(dead.id)]}, format="json")
    assert r.status_code in (200, 400, 404)
    assert r.json().get("retried_count", 0) == 0
    r = api.foreign.post("/api/v1/jobs/dlq/purge", {"confirm": True}, format="json")
    assert r.status_code == 200
    assert api.foreign.get("/api/v1/jobs/stats").json()["total"] == 0
    assert snapshot(space) == before


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["space", "job"])
def test_a_foreign_token_cannot_open_another_spaces_streams(space, api, victim, kind):
    target = f"spaces/{space.id}" if kind == "space" else str(victim["job_id"])
    nowhere = f"spaces/{uuid.uuid4()}" if kind == "space" else str(uuid.uuid4())
    secret = api.foreign.secret

    async def attempt(target: str) -> tuple[bool, int | None, list]:
        comm = WebsocketCommunicator(application, f"/api/v1/realtime/{target}?token={secret}")
        connected, _ = await comm.connect(timeout=10)
        out = await comm.receive_output(timeout=10)
        rest = []
        while not await comm.receive_nothing(timeout=0.2):
            rest.append(await comm.receive_output())
        await comm.disconnect()
        return connected, out.get("code"), [out, *rest]

    _, code, frames = async_to_sync(attempt)(target)
    _, code_nowhere, _ = async_to_sync(attempt)(nowhere)
    assert code in (4403, 4404), frames
    assert code == code_nowhere  # the same refusal as for a space or job that does not exist
    assert not [f for f in frames if f.get("type") == "websocket.send"]
    r = api.foreign.get(f"/api/v1/events/jobs/{victim['job_id']}")
    assert r.status_code == 404
    assert json.loads(b"".join(r.streaming_content) if r.streaming else r.content)["code"] == (
        "NOT_FOUND"
    )

import threading

from django.db import connection, transaction

from jobs import lifecycle
from jobs.models import JobEvent
from tests.conftest import SYSTEM
from tests.test_streams import events, live, ok, quiet, recv, secret  # noqa: F401 - fixtures


def test_an_event_committed_after_a_later_one_still_reaches_a_resuming_client(
    live,  # noqa: F811
    space,
    secret,  # noqa: F811
):
    admin = secret("jobs:admin")
    http = live.http(admin)
    with live.ws(f"spaces/{space.id}?token={admin}") as ws:
        recv(ws)
        ok(http.post("/jobs", json={"name": "first"}), 201)
        (seen,) = events(ws, 1)

    inserted, commit, late = threading.Event(), threading.Event(), {}

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                job = lifecycle.create(space, lifecycle.JobSpec(name="late"), actor=SYSTEM).job
                late["seq"] = JobEvent.objects.get(job=job).pk
                inserted.set()
                commit.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(10)
    ok(http.post("/jobs", json={"name": "early"}), 201)  # commits a higher seq first
    with live.ws(f"spaces/{space.id}?token={admin}&since={seen['seq']}") as ws:
        recv(ws)
        (replayed,) = events(ws, 1)
        assert replayed["seq"] > late["seq"]
        commit.set()
        writer.join()
        (arrived,) = events(ws, 1)
        assert (arrived["seq"], arrived["type"]) == (late["seq"], "job.created")
        quiet(ws)

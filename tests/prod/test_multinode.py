"""Two nodes, one PostgreSQL, one Redis: work spread over both is done exactly once, events
cross nodes, metrics move, and a node dying loses nothing while the other keeps serving.
"""

import asyncio
import json
import os
import signal
import threading
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.prod.conftest import Worker, create_jobs, metric, run_workers

pytestmark = [pytest.mark.prod, pytest.mark.timeout(600)]  # the layout starts within a test
# The 5,000; a machine shared with other heavy work may run a smaller drain.
DRAIN = int(os.environ.get("EMITRUN_PROD_DRAIN_JOBS", "5000"))


def test_eight_workers_over_both_nodes_complete_5000_jobs_exactly_once(prod):
    space, layout = prod.spaces["drain"], prod.layout
    ids = create_jobs(layout.url, space, DRAIN)
    stop = threading.Event()
    workers = [
        Worker(f"w{i}", [layout.web_url("a" if i % 2 else "b")], space, stop, lease=60)
        for i in range(8)
    ]
    run_workers(workers, lambda: sum(len(w.completed) for w in workers) >= DRAIN, timeout=420)

    done = [job for w in workers for job in w.completed]
    assert len(done) == DRAIN
    assert set(done) == set(ids)
    assert all(len(w.completed) > 0 for w in workers)  # every worker, on both nodes, took work
    rows = prod.sql(
        "SELECT status, count(*) FROM jobs_job WHERE space_id = %s GROUP BY status", [space.id]
    )
    assert rows == [("completed", DRAIN)]
    twice = prod.sql(
        "SELECT job_id FROM jobs_jobevent WHERE space_id = %s AND type IN "
        "('job.completed', 'job.started') GROUP BY job_id, type HAVING count(*) > 1",
        [space.id],
    )
    assert twice == []  # each job claimed once and completed once


def test_stream_on_node_a_sees_a_job_driven_through_node_b(prod):
    space, layout = prod.spaces["stream"], prod.layout
    ws_url = layout.stream_url("a").replace("http", "ws") + f"/api/v1/realtime/spaces/{space.id}"

    async def watch() -> list[dict]:
        seen: list[dict] = []
        async with connect(ws_url, additional_headers=space.headers) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "stream.hello"
            await asyncio.to_thread(_drive_one, layout.web_url("b"), space)
            while not any(m.get("type") == "job.completed" for m in seen):
                seen.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        return seen

    types = [m["type"] for m in asyncio.run(watch()) if m.get("type", "").startswith("job.")]
    assert types[:1] == ["job.created"]
    assert {"job.delivered", "job.started", "job.completed"} <= set(types)


def _drive_one(base: str, space) -> None:
    with httpx.Client(base_url=base, headers=space.headers, timeout=10) as client:
        r = client.post(f"/api/v1/spaces/{space.id}/jobs", json={"name": "noop"})
        assert r.status_code == 201, r.text
        job = client.post(
            f"/api/v1/spaces/{space.id}/jobs/poll", json={"limit": 1, "worker_id": "b"}
        ).json()["jobs"][0]
        lease = {"lease_id": job["lease_id"]}
        assert client.post(f"/api/v1/jobs/{job['id']}/ack", json=lease).status_code == 200
        r = client.post(f"/api/v1/jobs/{job['id']}/complete", json=lease)
        assert r.status_code == 200, r.text


def test_metrics_move_as_jobs_are_processed(prod):
    space, layout = prod.spaces["metrics"], prod.layout
    nodes = [layout.web_url("a"), layout.web_url("b")]

    def completed() -> float:
        return sum(
            metric(u, "emitrun_jobs_total", space=space.id, outcome="completed") for u in nodes
        )

    def claims() -> float:
        return sum(metric(u, "emitrun_claim_seconds_count") for u in nodes)

    before_completed, before_claims = completed(), claims()
    create_jobs(layout.url, space, 30)
    assert metric(nodes[0], "emitrun_queue_depth", space=space.id, status="pending") == 30
    stop = threading.Event()
    workers = [Worker(f"m{i}", [layout.url], space, stop) for i in range(2)]
    run_workers(workers, lambda: sum(len(w.completed) for w in workers) >= 30, timeout=60)

    assert completed() - before_completed == 30
    assert claims() > before_claims
    assert metric(nodes[1], "emitrun_queue_depth", space=space.id, status="pending") == 0
    assert (
        metric(
            nodes[0],
            "emitrun_http_request_seconds_count",
            route="api/v1/jobs/<str:job_id>/complete",
        )
        > 0
    )
    # The load balancer never hands out metrics; a scrape goes to each node directly.
    assert httpx.get(f"{layout.url}/metrics", timeout=10).status_code == 404


def test_a_stopping_node_answers_long_polls_empty_and_tells_streams_to_reconnect(prod):
    space, layout = prod.spaces["stream"], prod.layout
    ws_url = layout.stream_url("b").replace("http", "ws") + f"/api/v1/realtime/spaces/{space.id}"
    poll: dict = {}

    def long_poll() -> None:
        started = time.monotonic()
        r = httpx.post(
            f"{layout.web_url('b')}/api/v1/spaces/{space.id}/jobs/poll",
            json={"wait_seconds": 25, "names": ["nothing-here"]},
            headers=space.headers,
            timeout=40,
        )
        poll.update(status=r.status_code, jobs=r.json()["jobs"], took=time.monotonic() - started)

    async def stream_close_code() -> int:
        async with connect(ws_url, additional_headers=space.headers) as ws:
            await asyncio.wait_for(ws.recv(), 10)  # stream.hello
            claims = metric(layout.web_url("b"), "emitrun_claim_seconds_count")
            thread.start()
            deadline = time.monotonic() + 30
            while metric(layout.web_url("b"), "emitrun_claim_seconds_count") == claims:
                assert time.monotonic() < deadline, "the long-poll never reached node b"
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # its first look found nothing: now it waits
            for name in ("web-b", "streams-b"):
                layout.processes[name].signal(signal.SIGTERM)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 20)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else -1

    thread = threading.Thread(target=long_poll)
    try:
        assert asyncio.run(stream_close_code()) == 1012  # service restart: reconnect
        thread.join(30)
        assert (poll["status"], poll["jobs"]) == (200, [])
        assert poll["took"] < 15  # answered when the node stopped, not after 25 s
    finally:
        for name in ("web-b", "streams-b"):
            layout.processes[name].wait(30)
            layout.processes[name].start()
        layout.wait_ready(60, nodes=("b",))


def test_a_node_killed_mid_run_loses_nothing_and_the_other_keeps_serving(prod):
    space, layout = prod.spaces["crash"], prod.layout  # delivery timeout 2 s
    ids = create_jobs(layout.url, space, 500, max_retries=10)
    stop = threading.Event()
    workers = [Worker(f"c{i}", [layout.url], space, stop, lease=5) for i in range(4)]
    for worker in workers:
        worker.start()
    try:
        _wait(lambda: sum(len(w.completed) for w in workers) >= 100, 120)
        layout.kill_node("b")
        done_at_kill = _completed(prod, space)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{layout.web_url('b')}/health/live", timeout=5)
        assert httpx.get(f"{layout.url}/health/ready", timeout=5).status_code == 200
        _wait(lambda: _completed(prod, space) == 500, 180)
    finally:
        stop.set()
        for worker in workers:
            worker.join(15)
        layout.restart_node("b")

    assert done_at_kill < 500  # killed mid-run: node a alone served the rest
    assert _completed(prod, space) == 500
    assert {job for w in workers for job in w.completed} <= set(ids)
    twice = prod.sql(
        "SELECT job_id FROM jobs_jobevent WHERE space_id = %s AND type = 'job.completed' "
        "GROUP BY job_id HAVING count(*) > 1",
        [space.id],
    )
    assert twice == []


def _completed(prod, space) -> int:
    return prod.sql(
        "SELECT count(*) FROM jobs_job WHERE space_id = %s AND status = 'completed'", [space.id]
    )[0][0]


def _wait(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)

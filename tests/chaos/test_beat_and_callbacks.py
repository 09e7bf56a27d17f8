import contextlib
import json
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.chaos.harness import seed_space, wait_until

SCHEDULED = 20
TIMING_OUT = 10
GOOD = 20
HUGE = 10 * 1024 * 1024


class Hooks:
    """One local HTTP server with behaviours per path: /ok, /hang, /slow, /huge."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str, bytes]] = []  # (path, delivery id, body)
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hooks.got.append((self.path, self.headers.get("X-Emitrun-Delivery", ""), body))
                if self.path == "/hang":
                    time.sleep(60)
                if self.path == "/slow":
                    time.sleep(1.5)
                size = HUGE if self.path == "/huge" else 2
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                with contextlib.suppress(OSError):  # the sender stopped reading: its cap
                    self.wfile.write(b"x" * size)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> Counter:
        return Counter(path for path, _, _ in self.got)


@pytest.fixture
def hooks():
    h = Hooks()
    yield h
    h.server.shutdown()
    h.server.server_close()


def _run_to_completion(http, space_id: str, name: str, count: int) -> None:
    done = 0
    deadline = time.monotonic() + 60
    while done < count and time.monotonic() < deadline:
        r = http.post(
            f"/spaces/{space_id}/jobs/poll", json={"limit": 5, "names": [name], "wait_seconds": 1}
        )
        for job in r.json()["jobs"]:
            lease = {"lease_id": job["lease_id"]}
            http.post(f"/jobs/{job['id']}/ack", json=lease)
            if http.post(f"/jobs/{job['id']}/complete", json=lease).status_code == 200:
                done += 1
    assert done == count


@pytest.mark.timeout(600)
def test_two_beats_at_once_make_no_double_transition_and_no_double_callback(stack, hooks):
    space_id, secret = seed_space(stack, "two-beats", delivery_timeout=2)
    api = stack.api()
    stack.worker()
    stack.beat("beat-a")
    stack.beat("beat-b")
    due = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
    with api.client(secret) as http:
        for i in range(SCHEDULED):
            body = {"name": "later", "scheduled_for": due, "callback_url": f"{hooks.base}/ok"}
            assert http.post("/jobs", json={**body, "idempotency_key": f"s{i}"}).status_code == 201
        for _ in range(TIMING_OUT):  # delivered, never acked: the sweeper hands them back
            http.post("/jobs", json={"name": "unacked"})
        http.post(f"/spaces/{space_id}/jobs/poll", json={"limit": TIMING_OUT, "names": ["unacked"]})
        assert wait_until(
            lambda: (
                stack.pg.query("SELECT count(*) FROM jobs_job WHERE status = 'pending'")[0][0]
                >= SCHEDULED + TIMING_OUT
            ),
            60,
        )
        _run_to_completion(http, space_id, "later", SCHEDULED)
    assert wait_until(lambda: hooks.paths()["/ok"] >= SCHEDULED, 60), stack.log("worker")
    time.sleep(3)  # room for any double

    events = stack.pg.query(
        "SELECT j.name, e.type, e.data->>'reason', count(*) FROM jobs_jobevent e "
        "JOIN jobs_job j ON j.id = e.job_id WHERE j.space_id = %s AND e.type = 'job.pending' "
        "GROUP BY j.id, j.name, e.type, e.data->>'reason'",
        space_id,
    )
    assert {n for *_, n in events} == {1}  # no job made the same move twice
    moves = Counter((name, reason) for name, _, reason, _ in events)
    # A due job may also be claimed straight from `scheduled` before a beat moves it.
    assert 0 < moves[("later", "due")] <= SCHEDULED
    assert moves[("unacked", "delivery_timeout")] == TIMING_OUT
    per_job: dict[str, set[str]] = defaultdict(set)
    for path, delivery, body in hooks.got:
        assert path == "/ok"
        per_job[json.loads(body)["job_id"]].add(delivery)
    assert len(per_job) == SCHEDULED
    assert all(len(ids) == 1 for ids in per_job.values())  # repeats carry the same delivery id


@pytest.mark.timeout(600)
def test_hanging_slow_and_huge_receivers_do_not_hold_up_other_deliveries(stack, hooks):
    space_id, secret = seed_space(stack, "bad-receivers")
    api = stack.api()
    stack.worker(concurrency=4, EMITRUN_DELIVERY_TIMEOUT_SECONDS="2")
    stack.beat()
    with api.client(secret) as http:
        for path in ["hang", "hang", "slow", "huge", "huge"]:
            http.post("/jobs", json={"name": "bad", "callback_url": f"{hooks.base}/{path}"})
        _run_to_completion(http, space_id, "bad", 5)
        started = time.monotonic()
        for _ in range(GOOD):
            http.post("/jobs", json={"name": "good", "callback_url": f"{hooks.base}/ok"})
        _run_to_completion(http, space_id, "good", GOOD)
    assert wait_until(lambda: hooks.paths()["/ok"] >= GOOD, 60), stack.log("worker")
    assert time.monotonic() - started < 60
    assert hooks.paths()["/slow"] >= 1
    assert hooks.paths()["/huge"] >= 2
    ok_sent = "SELECT count(*) FROM notifications_delivery WHERE url = %s AND status = 'sent'"
    assert wait_until(lambda: stack.pg.query(ok_sent, f"{hooks.base}/ok")[0][0] == GOOD, 30)
    outcome = dict(
        stack.pg.query(
            "SELECT url, string_agg(DISTINCT status, ',') FROM notifications_delivery "
            "WHERE url LIKE %s GROUP BY url",
            f"{hooks.base}/%",
        )
    )
    assert outcome[f"{hooks.base}/ok"] == "sent"
    assert "sent" in outcome[f"{hooks.base}/huge"]  # answered 200; the body was capped
    assert "sent" not in outcome[f"{hooks.base}/hang"]  # timed out: retried later, not sent

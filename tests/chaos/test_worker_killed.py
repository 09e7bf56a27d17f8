import json
import signal
import subprocess
import time

from tests.chaos.harness import ROOT, seed_space, workerproc

JOBS = 50
RECOVERY_BOUND_SECONDS = 40  # docs/reliability.md


def test_a_killed_worker_loses_none_of_its_50_jobs_and_none_completes_twice(stack):
    space_id, secret = seed_space(stack, "killed-worker", delivery_timeout=10)
    api = stack.api()
    stack.worker()
    stack.beat()
    with api.client(secret) as http:
        r = http.post(
            "/jobs/bulk",
            json={"queue_name": "held", "default_timeout_seconds": 8, "jobs": [{}] * JOBS},
        )
        assert r.status_code == 200, r.text
        ids = {item["job_id"] for item in r.json()["succeeded"]}
    assert len(ids) == JOBS

    holder = subprocess.Popen(  # noqa: S603
        workerproc("hold", api.base, secret, space_id, "held", str(JOBS)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    leases = json.loads(holder.stdout.readline())["leases"]
    assert set(leases) == ids
    statuses = dict(stack.pg.query("SELECT id::text, status FROM jobs_job WHERE name = 'held'"))
    assert sorted(set(statuses.values())) == ["delivered", "running"]
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    killed_at = time.monotonic()

    drained = subprocess.run(  # noqa: S603
        workerproc(
            "drain", api.base, secret, space_id, "held", str(JOBS), str(RECOVERY_BOUND_SECONDS)
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RECOVERY_BOUND_SECONDS + 30,
        check=True,
    )
    recovered_in = time.monotonic() - killed_at
    completed = json.loads(drained.stdout)["completed"]
    assert sorted(completed) == sorted(ids), stack.log("beat")
    assert recovered_in < RECOVERY_BOUND_SECONDS

    rows = stack.pg.query(
        "SELECT j.id::text, j.status, j.worker_id, count(e.id) FROM jobs_job j "
        "LEFT JOIN jobs_jobevent e ON e.job_id = j.id AND e.type = 'job.completed' "
        "WHERE j.name = 'held' GROUP BY j.id"
    )
    assert {row[1] for row in rows} == {"completed"}
    assert {row[2] for row in rows} == {"drainer"}
    assert {row[3] for row in rows} == {1}  # completed exactly once, none lost

    with api.client(secret) as http:  # the dead worker's leases are fenced off for good
        for job_id, lease_id in list(leases.items())[:10]:
            r = http.post(f"/jobs/{job_id}/complete", json={"lease_id": lease_id})
            assert (r.status_code, r.json()["code"]) == (409, "LEASE_EXPIRED"), r.text
    assert stack.pg.query("SELECT DISTINCT status FROM jobs_job WHERE name = 'held'") == [
        ("completed",)
    ]

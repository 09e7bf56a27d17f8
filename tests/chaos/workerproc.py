"""A job worker as its own process, speaking the native HTTP flow (poll, ack, complete).

python -m tests.chaos.workerproc hold BASE SECRET SPACE_ID NAME COUNT
    polls COUNT jobs, acks the first half, prints {"leases": {job id: lease id}} and
    then holds them forever (the test SIGKILLs it);
python -m tests.chaos.workerproc drain BASE SECRET SPACE_ID NAME COUNT TIMEOUT
    polls, acks and completes until it has completed COUNT jobs or TIMEOUT passes,
    and prints {"completed": [job ids], "conflicts": n}.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx


def _client(base: str, secret: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )


def _poll(http: httpx.Client, space_id: str, name: str, limit: int, worker: str) -> list[dict]:
    r = http.post(
        f"/spaces/{space_id}/jobs/poll",
        json={"limit": limit, "names": [name], "worker_id": worker, "wait_seconds": 1},
    )
    r.raise_for_status()
    return r.json()["jobs"]


def _say(answer: dict) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def hold(base: str, secret: str, space_id: str, name: str, count: int) -> None:
    leases: dict[str, str] = {}
    with _client(base, secret) as http, ThreadPoolExecutor(8) as pool:
        while len(leases) < count // 2:  # the first half acked (running) ...
            jobs = _poll(http, space_id, name, count // 2 - len(leases), "holder")
            leases |= {job["id"]: job["lease_id"] for job in jobs}
            acks = [{"lease_id": job["lease_id"]} for job in jobs]
            urls = [f"/jobs/{job['id']}/ack" for job in jobs]
            for ack in pool.map(lambda u, b: http.post(u, json=b), urls, acks):
                assert ack.status_code == 200, ack.text
        while len(leases) < count:  # ... the rest left delivered
            jobs = _poll(http, space_id, name, count - len(leases), "holder")
            leases |= {job["id"]: job["lease_id"] for job in jobs}
    _say({"leases": leases})
    while True:
        time.sleep(60)


def drain(base: str, secret: str, space_id: str, name: str, count: int, timeout: float) -> None:
    done: list[str] = []
    conflicts = 0
    deadline = time.monotonic() + timeout
    with _client(base, secret) as http:
        while len(done) < count and time.monotonic() < deadline:
            for job in _poll(http, space_id, name, 50, "drainer"):
                lease = {"lease_id": job["lease_id"]}
                ack = http.post(f"/jobs/{job['id']}/ack", json=lease)
                r = http.post(f"/jobs/{job['id']}/complete", json={**lease, "result": {"ok": 1}})
                if ack.status_code == 200 and r.status_code == 200:
                    done.append(job["id"])
                else:
                    conflicts += 1
    _say({"completed": done, "conflicts": conflicts})


if __name__ == "__main__":
    mode, base, secret, space_id, name, count, *rest = sys.argv[1:]
    if mode == "hold":
        hold(base, secret, space_id, name, int(count))
    else:
        drain(base, secret, space_id, name, int(count), float(rest[0]))

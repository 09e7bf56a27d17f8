"""CPU milliseconds per API call, in-process: `python -m bench.cpu [bulk|create|poll|cycle]
[N]`. Less noisy than the load scenarios for comparing two versions of a hot path.

Uses the bench database (run `make bench` once first) and its Redis; seeds a space and
token, warms up, then times N calls through Django's test client with the process's CPU
clock (every thread: the request's and the event publisher's). `cycle` is a create, a
poll of one job, its ack and its complete; `bulk` a bulk create of 100.
"""

import json
import sys
import time

from bench.profile import seeded_client


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "bulk"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    client, base = seeded_client()
    bulk_body = json.dumps({"name": "bench", "jobs": [{"payload": {"n": i}} for i in range(100)]})

    def post(path: str, body: dict | str) -> dict:
        raw = body if isinstance(body, str) else json.dumps(body)
        r = client.post(path, raw, content_type="application/json")
        assert r.status_code < 300, r.content
        return r.json()

    def create() -> None:
        post(base, {"name": "bench", "payload": {"n": 1}})

    def poll() -> None:
        post(f"{base}/poll", {"limit": 1, "worker_id": "cpu"})

    def cycle() -> None:
        create()
        for job in post(f"{base}/poll", {"limit": 1})["jobs"]:
            post(f"/api/v1/jobs/{job['id']}/ack", {"lease_id": job["lease_id"]})
            post(f"/api/v1/jobs/{job['id']}/complete", {"lease_id": job["lease_id"]})

    steps = {"bulk": lambda: post(f"{base}/bulk", bulk_body), "create": create, "poll": poll}
    step = {**steps, "cycle": cycle}[mode]
    if mode == "poll":
        for _ in range(n + 20):
            create()  # each poll finds a job
    for _ in range(20):
        step()  # warm: imports, pools, caches, prepared statements
    started = time.process_time()
    for _ in range(n):
        step()
    print(f"{mode}: {(time.process_time() - started) * 1000 / n:.2f} ms CPU per call ({n} calls)")


if __name__ == "__main__":
    main()

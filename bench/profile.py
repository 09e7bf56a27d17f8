"""Profile API calls in-process with pyinstrument: `python -m bench.profile [N]`.

Uses the bench database (run `make bench` once first, or any migrated DATABASE_URL):
seeds a space and token, then drives create, poll, ack and complete through Django's
test client and prints where the time goes, database excluded or not.
"""

import json
import os
import subprocess
import sys
from typing import Any

from bench.stack import ROOT, Config, Stack


def seeded_client() -> tuple[Any, str]:
    """Django set up on the bench database, a fresh space and token seeded there: a test
    client holding the token, and the space's jobs route.
    """
    stack = Stack(Config())
    os.environ.update(stack.env())
    out = subprocess.run(
        [sys.executable, "-m", "bench.seed"], cwd=ROOT, env=stack.env(), capture_output=True,
        text=True, check=True,
    ).stdout  # fmt: skip
    seed = json.loads(out.strip().splitlines()[-1])
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emitrun.settings")
    django.setup()
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {seed['token']}", HTTP_HOST="127.0.0.1")
    return client, f"/api/v1/spaces/{seed['space_id']}/jobs"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    client, base = seeded_client()
    from pyinstrument import Profiler

    def post(path: str, body: dict) -> dict:
        r = client.post(path, json.dumps(body), content_type="application/json")
        assert r.status_code < 300, r.content
        return r.json()

    def cycle() -> None:
        post(base, {"name": "bench", "payload": {"n": 1}})
        for job in post(f"{base}/poll", {"limit": 1})["jobs"]:
            post(f"/api/v1/jobs/{job['id']}/ack", {"lease_id": job["lease_id"]})
            post(f"/api/v1/jobs/{job['id']}/complete", {"lease_id": job["lease_id"]})

    for _ in range(20):
        cycle()  # warm: imports, pools, caches
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(n):
        cycle()
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()

"""The load generator: worker processes of threads, each thread on one keep-alive HTTP
connection, running a workload step in a loop until a shared deadline.
"""

import http.client
import json
import multiprocessing as mp
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


class Client:
    """One keep-alive connection that times every call by operation name."""

    def __init__(self, port: int, token: str | None = None, cookie: str | None = None) -> None:
        self.port = port
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if cookie:
            self.headers["Cookie"] = cookie
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.last_headers: dict[str, str] = {}

    def call(self, op: str, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        start = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.errors[op] += 1
            return None
        self.lat[op].append((time.perf_counter() - start) * 1000)
        self.last_headers = dict(resp.getheaders())
        if resp.status >= 400:
            self.errors[f"{op} {resp.status}"] += 1
            return None
        ctype = resp.getheader("Content-Type", "")
        return json.loads(raw) if raw and "json" in ctype else raw


Step = Callable[[Client, dict], int]


def _thread(step: Step, ctx: dict, until: float, out: dict) -> None:
    client = Client(ctx["port"], ctx.get("token"), ctx.get("cookie"))
    moved = 0
    while time.time() < until:
        n = step(client, ctx)
        moved += n
        if n == 0 and ctx.get("idle_sleep"):
            time.sleep(ctx["idle_sleep"])
    out["moved"] += moved
    for op, values in client.lat.items():
        out["lat"][op].extend(values)
    for op, count in client.errors.items():
        out["errors"][op] += count


def _process(step: Step, ctx: dict, threads: int, start: float, seconds: float, q: Any) -> None:
    out: dict = {"moved": 0, "lat": defaultdict(list), "errors": defaultdict(int)}
    while time.time() < start:
        time.sleep(0.005)
    ts = [
        threading.Thread(target=_thread, args=(step, ctx, start + seconds, out))
        for _ in range(threads)
    ]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put({"moved": out["moved"], "lat": dict(out["lat"]), "errors": dict(out["errors"])})


def run(step: Step, ctx: dict, clients: int, seconds: float, processes: int = 2) -> dict:
    """Runs `clients` threads of `step` for `seconds`; jobs moved per second and latencies."""
    processes = max(1, min(processes, clients))
    spawn = mp.get_context("spawn")
    q = spawn.Queue()
    start = time.time() + 1.5  # every process starts together, after its imports
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    procs = [spawn.Process(target=_process, args=(step, ctx, n, start, seconds, q)) for n in per]
    for p in procs:
        p.start()
    parts = [q.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    lat: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    for part in parts:
        for op, values in part["lat"].items():
            lat[op].extend(values)
        for op, count in part["errors"].items():
            errors[op] += count
    moved = sum(part["moved"] for part in parts)
    return {
        "clients": clients,
        "seconds": seconds,
        "jobs": moved,
        "jobs_per_s": round(moved / seconds, 1),
        "latency_ms": {op: summary(v) for op, v in lat.items()},
        "errors": dict(errors),
    }


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    v = sorted(values)
    return {
        "n": len(v),
        "p50": round(pct(v, 50), 2),
        "p95": round(pct(v, 95), 2),
        "p99": round(pct(v, 99), 2),
        "max": round(v[-1], 2),
    }


def pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]

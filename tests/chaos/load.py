"""A load of producers and workers over HTTP, for faults injected while it runs.

Producers create jobs with idempotency keys and retry each create until a 2xx (as a real
client would after a timeout or a 5xx), recording what each acknowledged. Workers poll,
ack and complete, ignoring whatever fails (the lifecycle's timeouts hand a job back).
Every answer is tallied by status, with its error code and duration.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx


@dataclass
class Load:
    base: str
    secret: str
    space_id: str
    name: str
    jobs: int
    producers: int = 4
    workers: int = 2
    extra: dict = field(default_factory=dict)  # more create fields (callback_url, ...)
    acknowledged: dict[str, str] = field(default_factory=dict)  # idempotency key -> job id
    statuses: Counter = field(default_factory=Counter)  # (status or exception name, code)
    slowest_error: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "Load":
        keys = [f"{self.name}-{i}" for i in range(self.jobs)]
        for n in range(self.producers):
            self._thread(self._produce, keys[n :: self.producers])
        for _ in range(self.workers):
            self._thread(self._work)
        return self

    def _thread(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def producers_done(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for thread in self.threads[: self.producers]:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self.threads[: self.producers])

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base}/api/v1",
            headers={"Authorization": f"Bearer {self.secret}"},
            timeout=15,
        )

    def _call(self, http: httpx.Client, method: str, url: str, body: dict) -> httpx.Response | None:
        started = time.monotonic()
        try:
            r = http.request(method, url, json=body)
        except httpx.TransportError as exc:
            self._tally(type(exc).__name__, None, time.monotonic() - started)
            return None
        code = None
        if r.status_code >= 400:
            try:
                code = r.json().get("code")
            except ValueError:
                code = "NOT_JSON"
        self._tally(r.status_code, code, time.monotonic() - started)
        return r

    def _tally(self, status: int | str, code: str | None, took: float) -> None:
        with self.lock:
            self.statuses[(status, code)] += 1
            if status != 200 and status != 201:
                self.slowest_error = max(self.slowest_error, took)

    def _produce(self, keys: list[str]) -> None:
        with self._client() as http:
            for key in keys:
                body = {"name": self.name, "idempotency_key": key, "timeout_seconds": 20}
                body |= self.extra
                while not self.stop.is_set():
                    r = self._call(http, "POST", "/jobs", body)
                    if r is not None and r.status_code in (200, 201):
                        with self.lock:
                            self.acknowledged[key] = r.json()["id"]
                        break
                    time.sleep(0.2)

    def _work(self) -> None:
        with self._client() as http:
            while not self.stop.is_set():
                poll = {"limit": 2, "names": [self.name], "worker_id": "load", "wait_seconds": 1}
                r = self._call(http, "POST", f"/spaces/{self.space_id}/jobs/poll", poll)
                if r is None or r.status_code != 200:
                    time.sleep(0.2)
                    continue
                for job in r.json()["jobs"]:
                    lease = {"lease_id": job["lease_id"]}
                    self._call(http, "POST", f"/jobs/{job['id']}/ack", lease)
                    self._call(http, "POST", f"/jobs/{job['id']}/complete", lease)


@dataclass
class Ledger:
    """What the database holds for a space's jobs after a load: the figures of a fault."""

    by_id: dict[str, tuple[str, str, int]]  # id -> (idempotency key, status, completions)

    @classmethod
    def read(cls, stack: object, space_id: str) -> "Ledger":
        rows = stack.pg.query(  # type: ignore[attr-defined]
            "SELECT j.id::text, j.idempotency_key, j.status, count(e.id) FROM jobs_job j "
            "LEFT JOIN jobs_jobevent e ON e.job_id = j.id AND e.type = 'job.completed' "
            "WHERE j.space_id = %s GROUP BY j.id",
            space_id,
        )
        return cls({row[0]: (row[1], row[2], row[3]) for row in rows})

    def lost(self, load: Load) -> int:
        """Acknowledged creates whose job is missing (or holds another key)."""
        return sum(
            1
            for key, job_id in load.acknowledged.items()
            if job_id not in self.by_id or self.by_id[job_id][0] != key
        )

    def doubled(self) -> int:
        """Jobs created twice for one key, plus jobs completed more than once."""
        keys = Counter(key for key, _, _ in self.by_id.values())
        twice = sum(n - 1 for n in keys.values() if n > 1)
        return twice + sum(1 for _, _, done in self.by_id.values() if done > 1)

    def unfinished(self) -> int:
        return sum(1 for _, status, _ in self.by_id.values() if status != "completed")

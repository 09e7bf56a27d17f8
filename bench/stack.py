"""The processes a run needs: its own database, the app under gunicorn (REST, dashboard)
and uvicorn (streams), a Celery worker and beat. Everything binds to 127.0.0.1.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


@dataclass
class Config:
    pg: str = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    db: str = os.environ.get("BENCH_DB", "emitrun_bench")
    redis: str = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
    wsgi_port: int = int(os.environ.get("BENCH_WSGI_PORT", "18101"))
    asgi_port: int = int(os.environ.get("BENCH_ASGI_PORT", "18102"))
    web_workers: int = int(os.environ.get("BENCH_WEB_WORKERS", "4"))
    web_threads: int = int(os.environ.get("BENCH_WEB_THREADS", "4"))
    # As many as gunicorn, so the serving scenario compares the same process count.
    stream_workers: int = int(
        os.environ.get("BENCH_STREAM_WORKERS", os.environ.get("BENCH_WEB_WORKERS", "4"))
    )
    pool: int = int(os.environ.get("BENCH_DB_POOL", "6"))

    @property
    def database_url(self) -> str:
        return f"{self.pg}/{self.db}"


@dataclass
class Stack:
    cfg: Config
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    seed: dict = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.cfg.database_url,
            "REDIS_URL": self.cfg.redis,
            "EMITRUN_CELERY_QUEUE": "emitrun-bench",
            "EMITRUN_DATA_DIR": "/tmp/emitrun-bench",
            "SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
            "DEBUG": "false",
            "DB_POOL_MAX": str(self.cfg.pool),
            "EMITRUN_TOKEN_RATE": "",  # the load would otherwise be throttled
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }

    def prepare_database(self) -> None:
        """A fresh database for the run, migrated, with a seeded space and token."""
        with psycopg.connect(f"{self.cfg.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.cfg.db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.cfg.db}"')
        run = {"env": self.env(), "cwd": ROOT, "check": True}
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], **run)
        out = subprocess.run([PY, "-m", "bench.seed"], capture_output=True, text=True, **run).stdout
        self.seed = json.loads(out.strip().splitlines()[-1])

    def start(self) -> None:
        c = self.cfg
        self._spawn(
            "gunicorn",
            [PY, "-m", "gunicorn", "emitrun.wsgi:application", "--worker-class", "gthread",
             "--workers", str(c.web_workers), "--threads", str(c.web_threads),
             "--keep-alive", "30", "--bind", f"127.0.0.1:{c.wsgi_port}", "--log-level",
             "warning"],
        )  # fmt: skip
        self._spawn(
            "uvicorn",
            [PY, "-m", "uvicorn", "emitrun.asgi:application", "--host", "127.0.0.1", "--port",
             str(c.asgi_port), "--workers", str(c.stream_workers), "--log-level", "warning",
             "--no-access-log"],
        )  # fmt: skip
        self._spawn(
            "celery-worker",
            [PY, "-m", "celery", "-A", "emitrun", "worker", "--loglevel", "WARNING",
             "--concurrency", "2"],
        )  # fmt: skip
        self._spawn(
            "celery-beat",
            [PY, "-m", "celery", "-A", "emitrun", "beat", "--loglevel", "WARNING",
             "--schedule", "/tmp/emitrun-bench/celerybeat-schedule"],
        )  # fmt: skip
        for port in (c.wsgi_port, c.asgi_port):
            wait_http(f"http://127.0.0.1:{port}/health/live")

    def _spawn(self, name: str, argv: list[str]) -> None:
        Path("/tmp/emitrun-bench").mkdir(exist_ok=True)
        log = (ROOT / "bench" / "results" / f"{name}.log").open("w")
        self.procs[name] = subprocess.Popen(
            argv, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each server, its worker processes included."""
        return {name: round(tree_rss_kb(p.pid) / 1024, 1) for name, p in self.procs.items()}


def wait_http(url: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up; see bench/results/*.log")
        time.sleep(0.3)


def tree_rss_kb(pid: int) -> int:
    total = 0
    for p in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def children(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = [int(k) for k in kids]
    for k in list(out):
        out.extend(children(k))
    return out

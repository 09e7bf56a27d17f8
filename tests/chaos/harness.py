"""Real processes for fault injection: a private PostgreSQL cluster and Redis server (never the
shared ones), and the app's own processes (uvicorn, Celery worker, Celery beat) pointed at
them. Each pytest-xdist worker gets its own ports:

- PostgreSQL 55440 + n, Redis 16390 + n, app servers 18200 + 20 n ... + 19
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent.parent
PG_BIN = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])


def worker_index() -> int:
    """0 for the main process or xdist's gw0, 1 for gw1, ..."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw") or 0)


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    if done.returncode:
        raise subprocess.CalledProcessError(done.returncode, cmd, done.stdout, done.stderr[-2000:])


class Postgres:
    """A private cluster in `root`: initdb once, then start / stop / restart at will."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data = root / "data"
        self.log = root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/emitrun"

    def init(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        initdb = [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
        _run(_as_postgres(*initdb, "--no-sync", "-E", "UTF8"))
        conf = self.data / "postgresql.conf"
        extra = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.root}'",
            "max_connections = 200",
            "fsync = off",  # the test survives process faults, not power cuts
            "synchronous_commit = on",
        ]
        _run(
            _as_postgres("sh", "-c", f"printf '%s\\n' {' '.join(repr(x) for x in extra)} >> {conf}")
        )
        self.start()
        _run(
            _as_postgres(
                str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "emitrun"
            )
        )

    def _ctl(self, *args: str) -> None:
        ctl = [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w"]
        _run(_as_postgres(*ctl, *args))

    def start(self) -> None:
        try:
            self._ctl("start")
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise AssertionError(f"postgres did not start: {exc.stderr} {log}") from None

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-m", mode)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def query(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(
            self.url.replace("postgres://", "postgresql://"), autocommit=True
        ) as c:
            return c.execute(sql, params).fetchall()


class Redis:
    """A private redis-server on `port`, without persistence: a restart loses its data."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(self.root)]
        out = (self.root / f"redis-{self.port}.log").open("a")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        assert wait_until(self.ping, 10), "private redis never answered"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@dataclass
class Stack:
    """The app's processes on one PostgreSQL and one Redis; every process is stopped at close."""

    pg: Postgres
    redis: Redis
    root: Path
    base_port: int
    procs: list[subprocess.Popen] = field(default_factory=list)
    next_port: int = 0

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "emitrun.settings",
            "DATABASE_URL": self.pg.url,
            "REDIS_URL": self.redis.url,
            "EMITRUN_CELERY_QUEUE": "emitrun-chaos",
            "EMITRUN_DATA_DIR": str(self.root / "data"),
            "SECRET_KEY": "chaos-suite-secret-key-not-for-production-use-0123456789",
            "EMITRUN_ALLOW_PRIVATE_WEBHOOKS": "true",
            "EMITRUN_SWEEP_SECONDS": "0.5",
            "EMITRUN_DISPATCH_SECONDS": "1",
            "EMITRUN_DELIVERY_BACKOFF_BASE_SECONDS": "1",
            "EMITRUN_DELIVERY_BACKOFF_CAP_SECONDS": "2",
            "EMITRUN_TOKEN_RATE": "",
            "EMITRUN_AUTH_FAILURE_RATE": "",
            "DB_POOL_MAX": "10",
            "DB_CONNECT_TIMEOUT": "2",
            "LOG_LEVEL": "WARNING",
        }
        env.pop("PYTEST_XDIST_WORKER", None)
        env.update(extra)
        return env

    def spawn(self, name: str, cmd: list[str], **env: str) -> subprocess.Popen:
        log = (self.root / f"{name}.log").open("w")
        proc = subprocess.Popen(  # noqa: S603 - our own command line
            cmd, cwd=ROOT, env=self.env(**env), stdout=log, stderr=subprocess.STDOUT
        )
        proc.name = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text()[-4000:] if path.exists() else ""

    def manage(self, *args: str, **env: str) -> str:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def python(self, script: str, *args: str) -> str:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-c", script, *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def api(self, port: int | None = None, log_level: str = "warning", **env: str) -> "Api":
        if port is None:
            port = self.base_port + self.next_port
            self.next_port += 1
        cmd = [sys.executable, "-m", "uvicorn", "emitrun.asgi:application", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--lifespan", "off", "--log-level", log_level]
        name = f"uvicorn-{port}-{len(self.procs)}"
        self.last_api_log = name
        proc = self.spawn(name, cmd, **env)
        api = Api(proc, f"http://127.0.0.1:{port}")
        assert wait_until(lambda: api.live(self.log(name)), 60), self.log(name)
        return api

    def worker(self, name: str = "worker", concurrency: int = 4, **env: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "celery", "-A", "emitrun", "worker", "--pool", "threads"]
        cmd += ["--concurrency", str(concurrency), "--loglevel", "WARNING", "-n", f"{name}@chaos"]
        cmd += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
        return self.spawn(name, cmd, **env)

    def beat(self, name: str = "beat") -> subprocess.Popen:
        cmd = [sys.executable, "-m", "celery", "-A", "emitrun", "beat", "--loglevel", "WARNING"]
        cmd += ["--schedule", str(self.root / f"{name}-schedule")]
        return self.spawn(name, cmd)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


@dataclass
class Api:
    proc: subprocess.Popen
    base: str

    def live(self, log: str = "") -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"uvicorn exited with {self.proc.returncode}: {log}")
        try:
            return httpx.get(f"{self.base}/health/live", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def client(self, secret: str, timeout: float = 10) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base}/api/v1",
            headers={"Authorization": f"Bearer {secret}"},
            timeout=timeout,
        )

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


SEED = """
import sys, django
django.setup()
from orgs.actions import create_organization
from spaces.actions import create_space, issue_token
from spaces.models import Space
org = create_organization(name=sys.argv[1])
space = create_space(organization=org, name=sys.argv[1], backoff_base_seconds=0, backoff_cap_seconds=0)
Space.objects.filter(pk=space.pk).update(delivery_timeout_seconds=int(sys.argv[2]))
print(space.id, issue_token(space=space, name="chaos", scopes=["jobs:admin"])[1])
"""


def seed_space(stack: Stack, name: str, delivery_timeout: int = 30) -> tuple[str, str]:
    """A fresh organization and space in the stack's database: (space id, admin secret)."""
    space_id, secret = stack.python(SEED, name, str(delivery_timeout)).split()
    return space_id, secret


def workerproc(*args: str) -> list[str]:
    """The command line of a job worker process (tests/chaos/workerproc.py)."""
    return [sys.executable, "-m", "tests.chaos.workerproc", *args]

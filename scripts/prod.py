"""The production layout on one machine: `make prod` (docs/deploy.md).

Two nodes, each a gunicorn (gthread; REST API and dashboard) and a uvicorn (several
workers; WebSockets and SSE), behind nginx, which routes the stream paths to the uvicorns
and the rest to the gunicorns; two Celery workers and one beat; all on one PostgreSQL
database and one Redis. It migrates, starts everything, waits until every node answers
/health/ready, and on Ctrl-C or SIGTERM stops it all gracefully (nginx first, then the
nodes, which finish their requests and tell WebSocket clients to reconnect with 1012).

The tests of the layout (tests/test_prod_layout.py) drive the same `Layout` class.
"""

import argparse
import contextlib
import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf"
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
NODES = ("a", "b")


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        # Its own session: a signal to the group reaches a server's master and its workers.
        self.popen = subprocess.Popen(  # noqa: S603 - argv built here, no shell
            self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        out.close()

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def wait(self, timeout: float) -> bool:
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL to the whole group, workers included (a node crashing)."""
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)


@dataclass
class Layout:
    database_url: str = "postgres://postgres@127.0.0.1:5432/emitrun_prod"
    redis_url: str = "redis://127.0.0.1:6379/7"
    queue: str = "emitrun-prod"
    data_dir: Path = Path("/tmp/emitrun-prod")  # noqa: S108 - a local rehearsal's scratch
    base_port: int = 18300
    web_workers: int = 2
    web_threads: int = 8
    stream_workers: int = 2
    celery_concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)

    # --- addresses --------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The load balancer, where clients connect."""
        return f"http://127.0.0.1:{self.base_port}"

    def web_port(self, node: str) -> int:
        return self.base_port + 10 * (NODES.index(node) + 1) + 1

    def stream_port(self, node: str) -> int:
        return self.web_port(node) + 1

    def web_url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.web_port(node)}"

    def stream_url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.stream_port(node)}"

    # --- environment ------------------------------------------------------------------
    def env(self, node: str) -> dict[str, str]:
        """What every process of `node` is given (the processes of one machine share a
        metrics directory; every node shares the secret key, database and Redis).
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EMITRUN_", "PROMETHEUS"))}
        env.update(
            DJANGO_SETTINGS_MODULE="emitrun.settings",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            EMITRUN_CELERY_QUEUE=self.queue,
            EMITRUN_DATA_DIR=str(self.data_dir),
            SECRET_KEY_FILE=str(self.data_dir / "secret_key"),
            PROMETHEUS_MULTIPROC_DIR=str(self.data_dir / "metrics" / node),
            EMITRUN_NODE=f"node-{node}",
            LOG_FORMAT="json",
            DEBUG="false",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            EMITRUN_PUBLIC_URL=self.url,
            CSRF_TRUSTED_ORIGINS=self.url,
            # Plain HTTP on loopback here; behind TLS in a real deployment (docs/deploy.md).
            SESSION_COOKIE_SECURE="false",
            CSRF_COOKIE_SECURE="false",
            DB_POOL_MAX=str(self.web_threads + 2),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    # --- processes --------------------------------------------------------------------
    def _add(self, name: str, argv: list[str], node: str) -> None:
        log = self.data_dir / "logs" / f"{name}.log"
        self.processes[name] = Process(name, argv, self.env(node), log)

    def _define(self) -> None:
        py = sys.executable
        for node in NODES:
            env_bind = f"127.0.0.1:{self.web_port(node)}"
            self._add(f"web-{node}", [py, "-m", "gunicorn", "-c", str(GUNICORN_CONF)], node)
            web = self.processes[f"web-{node}"]
            web.env.update(
                EMITRUN_BIND=env_bind,
                WEB_WORKERS=str(self.web_workers),
                WEB_THREADS=str(self.web_threads),
            )
            self._add(
                f"streams-{node}",
                [
                    py, "-m", "uvicorn", "emitrun.asgi:application",
                    "--host", "127.0.0.1", "--port", str(self.stream_port(node)),
                    "--workers", str(self.stream_workers), "--ws", "websockets-sansio",
                    "--lifespan", "off", "--no-access-log", "--timeout-graceful-shutdown", "10",
                    "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1",
                ],
                node,
            )  # fmt: skip
            self._add(
                f"worker-{node}",
                [
                    py, "-m", "celery", "-A", "emitrun", "worker", "--loglevel", "INFO",
                    "--concurrency", str(self.celery_concurrency), "-n", f"worker-{node}@%h",
                ],
                node,
            )  # fmt: skip
        # One beat for the whole deployment: two would run every periodic task twice.
        schedule = str(self.data_dir / "celerybeat-schedule")
        self._add(
            "beat",
            [sys.executable, "-m", "celery", "-A", "emitrun", "beat", "--loglevel", "INFO",
             "--schedule", schedule],
            "a",
        )  # fmt: skip
        conf = self._nginx_conf()
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        prefix = str(self.data_dir / "nginx")
        self._add(
            "nginx",
            [nginx, "-p", prefix, "-c", str(conf), "-e", f"{prefix}/error.log",
             "-g", "daemon off;"],
            "a",
        )  # fmt: skip

    def _nginx_conf(self) -> Path:
        prefix = self.data_dir / "nginx"
        prefix.mkdir(parents=True, exist_ok=True)
        user = ""
        if os.geteuid() == 0:  # the workers drop root
            nobody = pwd.getpwnam("nobody")
            user = f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
        servers = {
            "@WEB_SERVERS@": [self.web_port(n) for n in NODES],
            "@STREAM_SERVERS@": [self.stream_port(n) for n in NODES],
        }
        text = NGINX_TEMPLATE.read_text()
        for placeholder, ports in servers.items():
            lines = "\n".join(
                f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in ports
            )
            text = text.replace(placeholder, lines)
        text = (
            text.replace("@USER@", user)
            .replace("@PREFIX@", str(prefix))
            .replace("@LISTEN@", f"127.0.0.1:{self.base_port}")
        )
        conf = prefix / "nginx.conf"
        conf.write_text(text)
        return conf

    # --- the life of the layout --------------------------------------------------------
    def prepare(self, *, fresh: bool = False) -> dict:
        """Creates the database (dropped first when `fresh`), migrates it — a deploy's first
        step, run once, never by every node — and seeds a demo space on a new database.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = self.data_dir / "secret_key"
        if not key.exists():
            key.touch(mode=0o600)
            key.write_text(secrets.token_urlsafe(50))
        _create_database(self.database_url, fresh=fresh)
        self.manage("migrate", "--noinput")
        return json.loads(self.manage("seeddemo", "--json"))

    def manage(self, *args: str) -> str:
        env = self.env("a")
        del env["PROMETHEUS_MULTIPROC_DIR"]  # a one-off command serves no metrics
        done = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self, timeout: float = 90) -> None:
        for node in NODES:  # a node's metrics start from zero: files of old pids would add up
            shutil.rmtree(self.data_dir / "metrics" / node, ignore_errors=True)
            (self.data_dir / "metrics" / node).mkdir(parents=True)
        self._define()
        for proc in self.processes.values():
            proc.start()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90, nodes: tuple[str, ...] = NODES) -> None:
        urls = [u for n in nodes for u in (self.web_url(n), self.stream_url(n))]
        urls += [self.url] if nodes == NODES else []
        deadline = time.monotonic() + timeout
        for url in urls:
            while not _ready(url):
                dead = [p.name for p in self.processes.values() if p.popen and not p.running()]
                if dead or time.monotonic() > deadline:
                    raise RuntimeError(f"{url} not ready; exited: {dead}; logs in {self.data_dir}")
                time.sleep(0.2)

    def kill_node(self, node: str) -> None:
        """The node's servers die at once (SIGKILL), as a crashed machine would."""
        for name in (f"web-{node}", f"streams-{node}"):
            self.processes[name].kill()

    def restart_node(self, node: str, timeout: float = 60) -> None:
        for name in (f"web-{node}", f"streams-{node}"):
            self.processes[name].start()
        self.wait_ready(timeout, nodes=(node,))

    def stop(self, timeout: float = 30) -> None:
        """nginx first (no new requests), then the servers and workers finish their work."""
        order = [["nginx"], [n for n in self.processes if n != "nginx" and n != "beat"], ["beat"]]
        for names in order:
            procs = [self.processes[n] for n in names if n in self.processes]
            for proc in procs:
                proc.signal(signal.SIGQUIT if proc.name == "nginx" else signal.SIGTERM)
            for proc in procs:
                if not proc.wait(timeout):
                    proc.kill()


def _ready(url: str) -> bool:
    try:
        with urlopen(f"{url}/health/ready", timeout=2) as response:  # noqa: S310 - http only
            return response.status == 200
    except (URLError, OSError):
        return False


def _create_database(url: str, *, fresh: bool) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if fresh:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("EMITRUN_PROD_DATABASE_URL",
                        "postgres://postgres@127.0.0.1:5432/emitrun_prod"))  # fmt: skip
    parser.add_argument("--redis-url", default=os.environ.get("EMITRUN_PROD_REDIS_URL",
                        "redis://127.0.0.1:6379/7"))  # fmt: skip
    parser.add_argument("--port", type=int, default=18300, help="the load balancer's port")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--stream-workers", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/emitrun-prod"))  # noqa: S108
    args = parser.parse_args()
    layout = Layout(
        database_url=args.database_url, redis_url=args.redis_url, base_port=args.port,
        web_workers=args.web_workers, web_threads=args.web_threads,
        stream_workers=args.stream_workers, data_dir=args.data_dir,
    )  # fmt: skip
    stopping: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    seeded = layout.prepare()
    try:
        layout.start()
        _announce(layout, seeded)
        while not stopping:
            dead = [p.name for p in layout.processes.values() if not p.running()]
            if dead:
                print(f"stopped unexpectedly: {', '.join(dead)}; logs in {layout.data_dir}/logs")
                break
            time.sleep(0.5)
    finally:
        print("stopping: nginx, then the nodes and workers (in-flight requests finish)")
        layout.stop()
        print("stopped")


def _announce(layout: Layout, seeded: dict) -> None:
    print(f"emitrun is up behind nginx at {layout.url}")
    for node in NODES:
        print(f"  node {node}: web {layout.web_url(node)}  streams {layout.stream_url(node)}")
    print(f"  metrics: {layout.web_url('a')}/metrics (each node; loopback only)")
    print(f"  logs: {layout.data_dir}/logs/*.log (JSON)")
    for key in ("login", "password", "space_id", "token"):
        if key in seeded:
            print(f"  {key}: {seeded[key]}")
    print("Ctrl-C stops everything gracefully.")


if __name__ == "__main__":
    main()

"""Readiness follows PostgreSQL: a node on a private cluster (never the shared one) answers
503 while the cluster is down and 200 again once it is back, while liveness stays 200.
"""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.prod import GUNICORN_CONF, ROOT

pytestmark = pytest.mark.prod

PG_PORT = 18390
WEB_PORT = 18380
PG_BIN = Path("/usr/lib/postgresql")


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(PG_BIN.glob(f"*/bin/{name}"))), None)
    if not found:
        pytest.skip(f"{name} (PostgreSQL server binaries) not installed")
    return str(found)


def _as_postgres(*argv: str, check: bool = True) -> None:
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    subprocess.run(  # noqa: S603 - fixed argv of our own
        [runuser, "-u", "postgres", "--", *argv], check=check, capture_output=True, timeout=120
    )


def _pg_ctl(data: Path, *args: str, check: bool = True) -> None:
    _as_postgres(_pg_tool("pg_ctl"), "-D", str(data / "db"), "-w", *args, check=check)


def _start(data: Path) -> None:
    opts = f"-p {PG_PORT} -k {data} -c listen_addresses=127.0.0.1"
    _pg_ctl(data, "-l", str(data / "log"), "-o", opts, "start")


@pytest.fixture
def cluster() -> Iterator[Path]:
    data = Path(f"/tmp/emitrun-prod-pg-{os.getpid()}")  # noqa: S108 - scratch cluster
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(mode=0o700)
    shutil.chown(data, "postgres", "postgres")
    _as_postgres(_pg_tool("initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres")
    _start(data)
    try:
        yield data
    finally:
        _pg_ctl(data, "stop", "-m", "immediate", check=False)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def node(cluster, tmp_path) -> Iterator[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{PG_PORT}/postgres",
        "DB_CONNECT_TIMEOUT": "2",
        "EMITRUN_BIND": f"127.0.0.1:{WEB_PORT}",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "2",
        "EMITRUN_DATA_DIR": str(tmp_path),
    }
    log = (tmp_path / "web.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{WEB_PORT}"
    try:
        _until(lambda: _status(url, "/health/live") == 200, 60)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_readiness_fails_while_postgresql_is_down_and_recovers(cluster, node):
    assert _status(node, "/health/ready") == 200

    _pg_ctl(cluster, "stop", "-m", "fast")
    r = httpx.get(f"{node}/health/ready", timeout=15)
    assert r.status_code == 503
    assert r.json()["database"] is False
    assert _status(node, "/health/live") == 200  # the process itself is fine: no restart

    _start(cluster)
    _until(lambda: _status(node, "/health/ready") == 200, 30)


def _status(url: str, path: str) -> int | None:
    try:
        return httpx.get(f"{url}{path}", timeout=15).status_code
    except httpx.TransportError:
        return None


def _until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)

"""The chaos suite: every test here is marked `chaos` (run by `make test-chaos`, never by
`make test`). Process-level tests share, per xdist worker, one private PostgreSQL cluster
and one private Redis (tests/chaos/harness.py), migrated once; each test gets its own
organization and space in it, and a Stack whose processes are stopped at teardown.
"""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.harness import Postgres, Redis, Stack, worker_index


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(scope="session")
def chaos_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"emitrun-chaos-{worker_index()}-") as root:
        Path(root).chmod(0o755)  # the private cluster runs as the postgres user
        yield Path(root)


@pytest.fixture(scope="session")
def private_pg(chaos_root: Path) -> Iterator[Postgres]:
    pg = Postgres(chaos_root / "pg", 55440 + worker_index())
    pg.init()
    yield pg
    pg.destroy()


@pytest.fixture(scope="session")
def private_redis(chaos_root: Path) -> Iterator[Redis]:
    redis = Redis(chaos_root / "redis", 16390 + worker_index())
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture(scope="session")
def migrated(private_pg: Postgres, private_redis: Redis, chaos_root: Path) -> None:
    stack = Stack(private_pg, private_redis, chaos_root, 0)
    stack.manage("migrate", "--noinput")


@pytest.fixture
def stack(migrated, private_pg: Postgres, private_redis: Redis, tmp_path: Path) -> Iterator[Stack]:
    """The app's processes on the private services; a test that stops a service restarts it."""
    stack = Stack(private_pg, private_redis, tmp_path, 18200 + 20 * worker_index())
    yield stack
    stack.close()
    if not private_redis.ping():
        private_redis.start()
    try:
        private_pg.query("SELECT 1")
    except Exception:  # noqa: BLE001 - whatever state the test left it in
        private_pg.start()

"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis), against a
live uvicorn on the private PostgreSQL and Redis: no 5xx, and every error in the documented
body. Examples per operation are bounded to keep the stage within CI's time.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.chaos.harness import Postgres, Redis, Stack, seed_space, worker_index

EXAMPLES = 8  # per operation (docs/reliability.md)


@pytest.fixture(scope="module")
def live(migrated, private_pg: Postgres, private_redis: Redis, tmp_path_factory) -> Iterator:
    root: Path = tmp_path_factory.mktemp("fuzz")
    stack = Stack(private_pg, private_redis, root, 18200 + 20 * worker_index() + 15)
    _, secret = seed_space(stack, "fuzzed")
    api = stack.api()
    yield api.base, secret
    stack.close()


@pytest.fixture(scope="module")
def api_schema(live):
    base, _ = live
    return schemathesis.openapi.from_url(f"{base}/api/schema/?format=json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_a_5xx_and_every_error_has_the_documented_body(case, live):
    base, secret = live
    response = case.call(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400 and response.status_code != 405:
        assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
        body = response.json()
        assert isinstance(body.get("code"), str), body
        assert isinstance(body.get("message"), str), body

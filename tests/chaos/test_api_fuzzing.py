"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis), against a
live uvicorn on the private PostgreSQL and Redis: no 5xx, and every error in the documented
body. Examples per operation are bounded to keep the stage within CI's time.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.chaos.harness import seed_space

EXAMPLES = 5  # per operation (docs/reliability.md)


@pytest.mark.timeout(900)
def test_no_input_makes_a_5xx_and_every_error_has_the_documented_body(stack):
    _, secret = seed_space(stack, "fuzzed")
    api = stack.api()
    schema = schemathesis.openapi.from_url(f"{api.base}/api/schema/?format=json")
    headers = {"Authorization": f"Bearer {secret}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case) -> None:
            response = case.call(base_url=api.base, headers=headers, timeout=30)
            where = (case.method, case.formatted_path, response.text[:300])
            assert response.status_code < 500, where
            kind = response.headers.get("Content-Type")
            # No Content-Type: refused by the HTTP server itself (malformed request line or
            # headers) before the app saw it.
            if response.status_code >= 400 and response.status_code != 405 and kind:
                assert kind.startswith("application/json"), where
                body = response.json()
                assert isinstance(body.get("code"), str), where
                assert isinstance(body.get("message"), str), where

        call()

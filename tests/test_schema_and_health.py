from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_openapi_schema_generates_without_warnings():
    out = StringIO()
    call_command("spectacular", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    assert '"/api/v1/spaces/{space_id}/jobs/poll"' in out.getvalue()
    assert '"bearerToken"' in out.getvalue()


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn" not in docs.content.lower()


@pytest.mark.django_db
def test_health_endpoints(client):
    body = client.get("/health").json()
    assert body["status"] == "healthy"
    assert body["database"] is True
    assert body["cache"] is True
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").json()["status"] == "ready"


def test_json_is_negotiated_for_plain_accept_headers_and_406_for_none(make_client):
    client = make_client("jobs:read")
    for accept in ("", "*/*", "application/json", "application/json; indent=2", "text/*, */*"):
        r = client.get("/api/v1/jobs", HTTP_ACCEPT=accept)
        assert r.status_code == 200, (accept, r.content)
        assert r["Content-Type"].startswith("application/json")
    r = client.get("/api/v1/jobs", HTTP_ACCEPT="text/html")
    assert r.status_code == 406
    assert r.json()["code"]

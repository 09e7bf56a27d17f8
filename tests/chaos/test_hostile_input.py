"""Hostile input: every refusal is a 4xx with the documented body and changes nothing."""

import pytest

from jobs.models import Job
from spaces.actions import update_settings

pytestmark = pytest.mark.django_db

NUL_BODIES = [
    b'{"name": "n", "payload": {"x": "a\\u0000b"}}',
    b'{"name": "n", "payload": {"\\u0000key": 1}}',
    b'{"name": "n", "tags": ["t\\u0000"]}',
    b'{"name": "n", "payload": ["\\ud800"]}',
    b'{"name": "n", "idempotency_key": "k\\u0000"}',
]


@pytest.mark.parametrize("body", NUL_BODIES)
def test_nul_and_lone_surrogates_are_refused_as_bad_input(api, body):
    r = api.producer.post("/api/v1/jobs", body, content_type="application/json")
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"name": "n", "payload": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"name": "\xff\xfe"}',
        b'{"name": "n", "payload": NaN}',
        b"\x00\x01\x02",
    ],
)
def test_deep_invalid_or_binary_json_is_refused(api, body):
    r = api.producer.post("/api/v1/jobs", body, content_type="application/json")
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert not Job.objects.exists()


SQLISH = "x'); DROP TABLE jobs_job; --"
HTMLISH = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_sql_and_html_in_names_tags_and_search_are_data_not_code(api, space):
    r = api.producer.post("/api/v1/jobs", {"name": SQLISH}, format="json")
    assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
    r = api.producer.post(
        "/api/v1/jobs",
        {"name": "safe", "tags": [SQLISH, HTMLISH], "payload": {"html": HTMLISH}},
        format="json",
    )
    assert r.status_code == 201, r.content
    for query in [f"?q={SQLISH}", f"?tag={SQLISH}", f"?name={SQLISH}", f"?q={HTMLISH}"]:
        listed = api.producer.get("/api/v1/jobs" + query)
        assert listed.status_code in (200, 400), listed.content
        assert listed["Content-Type"] == "application/json"
    assert api.producer.get("/api/v1/jobs?tag=" + SQLISH).json()[0]["tags"] == [SQLISH, HTMLISH]
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Ok": "a\r\nX-Injected: 1"},
        {"X-Ok": "a\nb"},
        {"Bad Name": "v"},
        {"X-Ok": "nul\x00"},
        {"X-Ok\r\nInjected": "v"},
    ],
)
def test_header_injection_in_push_headers_is_refused(space, headers):
    from emitrun.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        update_settings(space, push_url="https://example.com/hook", push_headers=headers)
    space.settings.refresh_from_db()
    assert not space.settings.push_headers


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://192.168.1.1/",
        "file:///etc/passwd",
        "gopher://example.com/",
    ],
)
def test_callbacks_to_private_addresses_are_refused(api, settings, url):
    settings.EMITRUN_ALLOW_PRIVATE_WEBHOOKS = False
    r = api.producer.post("/api/v1/jobs", {"name": "n", "callback_url": url}, format="json")
    assert r.status_code == 400, (url, r.content)
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert not Job.objects.exists()

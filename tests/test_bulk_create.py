"""Bulk creation: per-item answers as a lone create would give them, a few statements."""

import pytest
from django.conf import settings
from rest_framework.exceptions import ValidationError

from emitrun.errors import DomainError
from jobs.api.producer import _flatten
from jobs.api.serializers import BulkCreateInput, CreateJobInput

URL = "/api/v1/jobs/bulk"


def lone_error(body: dict, item: object) -> str:
    """The failure a serializer of its own gives the item (how the bulk judged items)."""
    batch = BulkCreateInput(data={**body, "jobs": [item]})
    batch.is_valid(raise_exception=True)
    try:
        serializer = CreateJobInput(data=batch.item_data(item))
        assert not serializer.is_valid()
        return _flatten(serializer.errors)
    except ValidationError as exc:
        return _flatten(exc.detail)
    except DomainError as exc:
        return exc.message


BAD_ITEMS = [
    {"priority": "high"},
    {"priority": 101},
    {"priority": 1.5},
    {"priority": True},
    {"priority": None},
    {"name": "Bad Name"},
    {"name": ""},
    {"name": 5},
    {"name": "n" * 65},
    {"name": None},
    {"queueName": "a", "name": "b"},
    {"payload": {"n": 1}, "maxRetries": -1, "timeoutSeconds": 0},
    {"max_retries": 101},
    {"timeout_seconds": "30"},
    {"tags": "x"},
    {"tags": 5},
    {"tags": ["t"] * 101},
    {"tags": ["t" * 256]},
    {"tags": {"k" * 256: 1}},
    {"idempotency_key": 5},
    {"idempotency_key": "k" * 256},
    {"idempotencyKey": ""},
    {"scheduled_for": "tomorrow"},
    {"scheduledAt": 5},
    {"callback_url": "not a url"},
    {"callback_url": "ftp://example.com/x"},
    {"completion_webhook": "http://127.0.0.1/hook"},
    {"callback_headers": "x"},
    {"callback_headers": {"X-Ok": 5}},
    {"callback_secret": 5},
    {"callback_secret": "s" * 256},
    {"payload": "x" * (settings.EMITRUN_MAX_PAYLOAD_BYTES + 1)},
    "not an object",
    5,
    [],
    ["a"],
]


@pytest.mark.parametrize("body", [{"name": "batch"}, {}], ids=["named", "unnamed"])
def test_each_bad_item_fails_as_it_would_alone(api, body):
    good = {"payload": 1, "name": "own"}
    items = [good, *BAD_ITEMS, good]
    r = api.producer.post(URL, {**body, "jobs": items})
    assert r.status_code == 200, r.content
    out = r.json()
    assert [s["index"] for s in out["succeeded"]] == [0, len(items) - 1]
    assert [f["index"] for f in out["failed"]] == list(range(1, len(items) - 1))
    assert [f["error"] for f in out["failed"]] == [lone_error(body, item) for item in BAD_ITEMS]


def test_item_errors_keep_their_wording(api):
    items = [{"priority": "high"}, {}, 5, {"name": "a", "queueName": "b"}]
    out = api.producer.post(URL, {"jobs": items}).json()
    assert [f["error"] for f in out["failed"]] == [
        "name: This field is required.; priority: A valid integer is required.",
        "name: This field is required.",
        "non_field_errors: expected a JSON object",
        "queue_name: conflicts with name; give one of them",
    ]


@pytest.mark.parametrize("data", [None, {"name": "Bad"}, {"name": "a", "priority": "x"}])
def test_a_reused_input_reports_what_a_fresh_one_does(data):
    fresh = CreateJobInput(data=data)
    assert not fresh.is_valid()
    with pytest.raises(ValidationError) as caught:
        CreateJobInput().spec_of(data)
    assert caught.value.detail == fresh.errors

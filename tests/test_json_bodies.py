"""JSON bodies as stored and answered: orjson reads and writes them on the hot paths, the
standard library wherever the two would differ (emitrun/jsontext.py).
"""

import datetime as dt
import json
import uuid

import pytest

from emitrun import jsontext, realtime
from jobs.models import Job

HUGE = 123456789012345678901234567890  # beyond 64 bits: orjson would read it as a float


def post_raw(client, path: str, raw: bytes):
    return client.generic("POST", path, raw, content_type="application/json")


def test_a_number_beyond_64_bits_is_stored_and_answered_digit_for_digit(api, space):
    raw = b'{"name": "a", "payload": {"n": %d, "m": -%d, "f": 0.1}}' % (HUGE, HUGE)
    r = post_raw(api.producer, "/api/v1/jobs", raw)
    assert r.status_code == 201, r.content
    job = Job.objects.get(pk=r.json()["id"])
    assert job.payload == {"n": HUGE, "m": -HUGE, "f": 0.1}
    answer = json.loads(api.producer.get(f"/api/v1/jobs/{job.pk}").content)
    assert answer["payload"]["n"] == HUGE


def test_a_bulk_keeps_huge_numbers_and_non_ascii_text(api, space):
    items = [{"payload": {"n": HUGE}}, {"payload": {"text": "naïve ☃ 😀", "list": [1, 2.5]}}]
    raw = json.dumps({"name": "a", "jobs": items}).encode()
    r = post_raw(api.producer, f"/api/v1/spaces/{space.id}/jobs/bulk", raw)
    assert r.status_code == 200, r.content
    ids = [item["job_id"] for item in r.json()["succeeded"]]
    stored = {str(job.pk): job.payload for job in Job.objects.filter(pk__in=ids)}
    assert [stored[i] for i in ids] == [item["payload"] for item in items]


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"2E+999"])
def test_a_number_beyond_a_double_is_refused(api, space, number):
    before = Job.objects.count()
    single = post_raw(api.producer, "/api/v1/jobs", b'{"name": "a", "payload": {"x": %s}}' % number)
    bulk = post_raw(
        api.producer,
        f"/api/v1/spaces/{space.id}/jobs/bulk",
        b'{"name": "a", "jobs": [{"payload": {"x": %s}}]}' % number,
    )
    for r in (single, bulk):
        assert r.status_code == 400, r.content
        assert r.json()["code"] == "VALIDATION_ERROR"
        assert "out of range" in r.json()["message"]
    assert Job.objects.count() == before


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"name": "a",}', "Expecting property name"),
        (b'{"name": "a"} x', "Extra data"),
        (b'{"name": "\xff"}', "not valid UTF-8"),
        (b'\xef\xbb\xbf{"name": "a"}', "BOM"),
        (b'{"name": "a", "payload": "\\ud800"}', "lone surrogate"),
        (b'{"name": "a", "payload": "\\u0000"}', "NUL"),
    ],
)
def test_malformed_bodies_are_worded_by_the_standard_library(api, raw, words):
    before = Job.objects.count()
    r = post_raw(api.producer, "/api/v1/jobs", raw)
    assert r.status_code == 400, r.content
    assert words in r.json()["message"]
    assert Job.objects.count() == before


def test_the_payload_limit_counts_utf8_bytes(api, space, settings):
    settings.EMITRUN_MAX_PAYLOAD_BYTES = 1000
    fits = {"t": "é" * 490}  # {"t":"..."} is 8 bytes + 980
    over = {"t": "é" * 497}  # 501 characters, but 1002 bytes
    assert jsontext.size(fits) == 988
    r = api.producer.post("/api/v1/jobs", {"name": "a", "payload": fits}, format="json")
    assert r.status_code == 201, r.content
    r = api.producer.post("/api/v1/jobs", {"name": "a", "payload": over}, format="json")
    assert r.status_code == 413, r.content
    assert r.json()["details"]["size"] == 1002


def test_dumps_writes_what_the_standard_library_would_read_back():
    job_id, at = uuid.uuid4(), dt.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)
    for value, expected in [
        ({"id": job_id, "at": at}, {"id": str(job_id), "at": "2026-01-02T03:04:05.006000+00:00"}),
        ({"n": HUGE, "id": job_id}, {"n": HUGE, "id": str(job_id)}),  # the fallback path
        ({1: "a", "b": [None, True, 1.5]}, {"1": "a", "b": [None, True, 1.5]}),
        (["naïve ☃"], ["naïve ☃"]),
    ]:
        text = jsontext.dumps(value)
        assert json.loads(text) == expected
        assert " " not in text.replace("naïve ☃", "")


def test_sizes_match_the_standard_librarys_compact_utf8():
    for value in [{"a": [1, 2, {"b": None}]}, {"t": "☃😀"}, {"n": HUGE}, {2: "x"}]:
        stdlib = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        assert jsontext.size(value) == len(stdlib)


def test_group_names_do_not_depend_on_how_the_id_is_spelled():
    job_id = uuid.uuid4()
    spellings = [job_id, str(job_id), str(job_id).upper(), job_id.hex, f"{{{job_id}}}"]
    assert {realtime.job_group(s) for s in spellings} == {f"job.{job_id.hex}"}
    assert {realtime.space_group(s) for s in spellings} == {f"space.{job_id.hex}"}
    with pytest.raises(ValueError, match="badly formed"):
        realtime.job_group("not-a-uuid")

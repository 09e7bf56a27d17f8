"""The WSGI entry point (the REST API under gunicorn) refuses oversized bodies unread, like
the ASGI one, and hands a small chunked body to the app with its length set."""

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings

from emitrun.wsgi import application
from jobs.models import Job
from spaces.actions import issue_token


class Untouchable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the oversized body was read")


def call(path: str, body_stream: io.IOBase, **environ: str) -> tuple[str, dict, bytes]:
    env: dict = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "wsgi.input": body_stream}
    env.update(environ)
    setup_testing_defaults(env)
    seen: dict = {}

    def start_response(status: str, headers: list) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(application(env, start_response))
    return seen["status"], seen["headers"], body


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    too_big = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    status, headers, body = call(
        "/api/v1/jobs", Untouchable(), CONTENT_LENGTH=str(too_big), CONTENT_TYPE="application/json"
    )
    assert status.startswith("413")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["code"] == "PAYLOAD_TOO_LARGE"


def test_a_chunked_body_over_the_limit_is_refused() -> None:
    stream = io.BytesIO(b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 100))
    status, _, body = call(
        "/api/v1/jobs", stream, HTTP_TRANSFER_ENCODING="chunked", CONTENT_TYPE="application/json"
    )
    assert status.startswith("413")
    assert json.loads(body)["details"]["max_bytes"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert stream.tell() == settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1  # read no further


@pytest.mark.django_db(transaction=True)
def test_a_small_chunked_body_reaches_the_api(space) -> None:
    _, secret = issue_token(space=space, name="p", scopes=["jobs:create"])
    payload = json.dumps({"name": "chunked", "payload": {"n": 1}}).encode()
    status, _, body = call(
        f"/api/v1/spaces/{space.pk}/jobs",
        io.BytesIO(payload),
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_TYPE="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert status.startswith("201"), body
    assert Job.objects.get(pk=json.loads(body)["id"]).payload == {"n": 1}

"""Brute force: failed authentications throttle the address (HTTP 429 + Retry-After, WebSocket
4429), a good guess inside the window is not revealed, and the window's end lifts it.
Login-form throttling is the dashboard's (tests/dashboard/test_accounts.py).
"""

import datetime as dt
import random

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from emitrun.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT = 5


@pytest.fixture
def throttled(settings):
    settings.EMITRUN_AUTH_FAILURE_RATE = f"{LIMIT}/min"


def address() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"  # noqa: S311


def from_address(ip: str, secret: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_failed_tokens_from_one_address_are_throttled_until_the_window_ends(api, throttled):
    ip, good = address(), api.admin.secret
    with time_machine.travel(dt.datetime(2030, 1, 1, 12, 0, 5, tzinfo=dt.UTC), tick=False):
        for n in range(LIMIT):
            r = from_address(ip, f"emr_wrong{n}").get("/api/v1/jobs")
            assert (r.status_code, r.json()["code"]) == (401, "UNAUTHENTICATED")
        r = from_address(ip, "emr_wrong-again").get("/api/v1/jobs")
        assert (r.status_code, r.json()["code"]) == (429, "RATE_LIMITED")
        assert int(r["Retry-After"]) == 55
        assert r.json()["details"]["retry_after_seconds"] == 55
        hidden = from_address(ip, good).get("/api/v1/jobs")  # a right guess is not revealed
        assert hidden.status_code == 429
        assert from_address(address(), good).get("/api/v1/jobs").status_code == 200
        login = APIClient(REMOTE_ADDR=ip).post(
            "/api/v1/auth/login", {"api_key": good}, format="json"
        )
        assert login.status_code == 429
    with time_machine.travel(dt.datetime(2030, 1, 1, 12, 1, 1, tzinfo=dt.UTC), tick=False):
        assert from_address(ip, good).get("/api/v1/jobs").status_code == 200


def test_the_throttle_is_off_when_unset(api, settings):
    settings.EMITRUN_AUTH_FAILURE_RATE = ""
    ip = address()
    for n in range(LIMIT + 3):
        assert from_address(ip, f"emr_wrong{n}").get("/api/v1/jobs").status_code == 401


def test_a_throttled_address_gets_close_code_4429_on_websockets(api, space, throttled):
    ip, good = address(), api.admin.secret
    for n in range(LIMIT):
        from_address(ip, f"emr_wrong{n}").get("/api/v1/jobs")

    async def close_code(secret: str, client: str) -> int | None:
        comm = WebsocketCommunicator(
            application, f"/api/v1/realtime/spaces/{space.id}?token={secret}"
        )
        comm.scope["client"] = [client, 40000]
        await comm.connect(timeout=10)
        out = await comm.receive_output(timeout=10)
        await comm.disconnect()
        return out.get("code")

    assert async_to_sync(close_code)(good, ip) == 4429
    assert async_to_sync(close_code)("emr_wrong", address()) == 4401


def test_a_token_over_its_request_rate_gets_429_with_retry_after(api, settings):
    settings.EMITRUN_TOKEN_RATE = "3/min"
    answers = [api.admin.get("/api/v1/jobs") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["code"] == "RATE_LIMITED"
    assert 1 <= int(answers[-1]["Retry-After"]) <= 60

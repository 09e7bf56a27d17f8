"""The dashboard's middleware (settings.BROWSER_MIDDLEWARE) runs for browser paths and not
for the token API under /api/: sessions, CSRF and the signed-in user stay the dashboard's.
"""

import uuid

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_browser_paths_keep_csrf_sessions_and_sign_in():
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=f"10.9.{uuid.uuid4().int % 250}.8")
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert "csrftoken" in page.cookies  # CSRF middleware ran and set its cookie
    user = UserFactory()  # password: "correct horse battery"
    form = {"email": user.email, "password": "correct horse battery"}
    refused = client.post("/accounts/login/", form)
    assert refused.status_code == 403  # no token: refused by CSRF
    token = page.cookies["csrftoken"].value
    signed_in = client.post("/accounts/login/", form, HTTP_X_CSRFTOKEN=token)
    assert signed_in.status_code == 302
    assert "sessionid" in signed_in.cookies  # session middleware ran
    assert client.get("/").status_code == 200  # the session signs the user in


def test_the_admin_login_page_works():
    page = Client().get("/admin/login/")
    assert page.status_code == 200
    assert b"csrfmiddlewaretoken" in page.content


def test_api_paths_answer_without_the_dashboards_middleware(api):
    r = api.admin.get("/api/v1/jobs")
    assert r.status_code == 200
    assert "Cookie" not in r.get("Vary", "")
    assert not r.cookies  # no session, no CSRF cookie
    assert r["X-Frame-Options"] == "DENY"  # the headers every answer gets are still there
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["X-Request-Id"]
    # What the dashboard's middleware would have put on the request is not there (DRF
    # sets `user` itself, from the token).
    for attribute in ("session", "_messages", "htmx", "csrf_processing_done"):
        assert not hasattr(r.wsgi_request, attribute), attribute
    page = Client().get("/accounts/login/")
    for attribute in ("session", "user", "_messages", "htmx", "csrf_processing_done"):
        assert hasattr(page.wsgi_request, attribute), attribute


def test_a_dashboard_session_does_not_authenticate_the_api(client):
    user = UserFactory()
    client.force_login(user)
    r = client.get("/api/v1/jobs")
    assert r.status_code == 401
    assert r.json()["code"] == "UNAUTHENTICATED"

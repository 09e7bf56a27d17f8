import re
import uuid

import pytest
from django.core import mail
from django.test import Client

from orgs.models import User
from tests.dashboard.conftest import signed_in
from tests.factories import UserFactory

PASSWORD = "correct horse battery"
STRONG = "a much longer secret 42"


def fresh_client() -> Client:
    """A client from an address no other test uses: sign-in throttling counts per address."""
    return Client(REMOTE_ADDR=f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.7")


def fresh_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


def signup(client: Client, email: str, password: str = STRONG, confirm: str | None = None):
    data = {"email": email, "password": password, "confirm_password": confirm or password}
    return client.post("/accounts/signup/", data)


@pytest.mark.django_db
def test_signup_page_has_the_labelled_fields():
    body = Client().get("/accounts/signup/").content.decode()
    for text in ('for="id_email">Email<', 'for="id_password">Password<', ">Confirm password<"):
        assert text in body
    assert "Create account" in body


@pytest.mark.django_db
def test_signup_creates_the_account_signs_in_and_lands_home():
    client, email = fresh_client(), fresh_email()
    r = signup(client, email.upper())
    assert (r.status_code, r["Location"]) == (302, "/")
    user = User.objects.get(email=email)
    assert user.check_password(STRONG)
    assert "Create organization" in client.get("/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        (STRONG, STRONG + "x", "The two passwords differ."),
        ("password", "password", "This password is too common."),
        ("12345678901", "12345678901", "This password is entirely numeric."),
        ("short", "short", "This password is too short."),
    ],
)
def test_signup_rejects_bad_passwords_and_creates_nothing(password, confirm, message):
    email = fresh_email()
    r = signup(fresh_client(), email, password, confirm)
    assert r.status_code == 422
    assert message in r.content.decode()
    assert not User.objects.filter(email=email).exists()


@pytest.mark.django_db
def test_signup_refuses_a_taken_email_and_a_malformed_one():
    user = UserFactory()
    r = signup(fresh_client(), user.email.upper())
    assert r.status_code == 422
    assert "An account with this email exists" in r.content.decode()
    r = signup(fresh_client(), "not-an-email")
    assert r.status_code == 422
    assert 'id="id_email-error"' in r.content.decode()
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_signup_requires_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    r = client.post("/accounts/signup/", {"email": fresh_email(), "password": STRONG})
    assert r.status_code == 403
    assert User.objects.count() == 0


@pytest.mark.django_db
def test_sign_in_goes_to_a_safe_next_page_only():
    user = UserFactory()
    client = fresh_client()
    r = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD, "next": "/x/"})
    assert (r.status_code, r["Location"]) == (302, "/x/")
    assert client.get("/accounts/profile/").status_code == 200
    r = fresh_client().post(
        "/accounts/login/",
        {"email": user.email.upper(), "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert (r.status_code, r["Location"]) == (302, "/")


@pytest.mark.django_db
def test_wrong_password_shows_one_message_and_signs_nobody_in():
    user = UserFactory()
    client = fresh_client()
    r = client.post("/accounts/login/", {"email": user.email, "password": "nope"})
    assert r.status_code == 422
    assert "Email or password is incorrect." in r.content.decode()
    assert client.get("/accounts/profile/").status_code == 302


@pytest.mark.django_db
def test_repeated_failures_for_an_email_answer_429_even_with_the_right_password(settings):
    settings.EMITRUN_SIGNIN_FAILURES_PER_EMAIL = 3
    user = UserFactory(email=fresh_email())
    for _ in range(3):
        r = fresh_client().post("/accounts/login/", {"email": user.email, "password": "nope"})
        assert r.status_code == 422
    client = fresh_client()
    r = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert r.status_code == 429
    assert 0 < int(r["Retry-After"]) <= settings.EMITRUN_SIGNIN_WINDOW_SECONDS
    assert "Too many failed attempts" in r.content.decode()
    assert client.get("/accounts/profile/").status_code == 302
    other = UserFactory(email=fresh_email())
    r = fresh_client().post("/accounts/login/", {"email": other.email, "password": PASSWORD})
    assert r.status_code == 302


@pytest.mark.django_db
def test_repeated_failures_from_one_address_answer_429_for_any_email(settings):
    settings.EMITRUN_SIGNIN_FAILURES_PER_IP = 3
    client = fresh_client()
    for _ in range(3):
        r = client.post("/accounts/login/", {"email": fresh_email(), "password": "nope"})
        assert r.status_code == 422
    user = UserFactory(email=fresh_email())
    r = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert r.status_code == 429
    assert "Retry-After" in r


@pytest.mark.django_db
def test_success_forgets_the_emails_failures(settings):
    settings.EMITRUN_SIGNIN_FAILURES_PER_EMAIL = 2
    user = UserFactory(email=fresh_email())
    fresh_client().post("/accounts/login/", {"email": user.email, "password": "nope"})
    assert (
        fresh_client()
        .post("/accounts/login/", {"email": user.email, "password": PASSWORD})
        .status_code
        == 302
    )
    fresh_client().post("/accounts/login/", {"email": user.email, "password": "nope"})
    r = fresh_client().post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert r.status_code == 302


@pytest.mark.django_db
def test_sign_out_is_a_post(owner):
    client = signed_in(owner)
    assert client.get("/accounts/logout/").status_code == 405
    r = client.post("/accounts/logout/")
    assert (r.status_code, r["Location"]) == (302, "/accounts/login/")
    assert "Sign up" in client.get("/").content.decode()


def reset_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body).group(1)


def set_password_through(client: Client, link: str, password: str):
    page = client.get(link, follow=True)  # Django moves the token into the session
    assert page.status_code == 200
    form_url = page.redirect_chain[-1][0]
    return client.post(form_url, {"new_password1": password, "new_password2": password})


@pytest.mark.django_db
def test_password_reset_mails_a_link_that_sets_a_new_password():
    user = UserFactory(email=fresh_email())
    r = fresh_client().post("/accounts/password_reset/", {"email": user.email.upper()})
    assert (r.status_code, r["Location"]) == (302, "/accounts/password_reset/done/")
    assert [m.to for m in mail.outbox] == [[user.email]]
    client = fresh_client()
    r = set_password_through(client, reset_link(mail.outbox[0]), STRONG)
    assert (r.status_code, r["Location"]) == (302, "/accounts/reset/done/")
    user.refresh_from_db()
    assert user.check_password(STRONG)


@pytest.mark.django_db
def test_password_reset_reaches_invited_people_but_not_unknown_addresses():
    invited = User.objects.create_user(fresh_email())  # no password yet
    client = fresh_client()
    client.post("/accounts/password_reset/", {"email": invited.email})
    r = client.post("/accounts/password_reset/", {"email": fresh_email()})
    assert r.status_code == 302  # the same answer: nobody learns which addresses exist
    assert [m.to for m in mail.outbox] == [[invited.email]]


@pytest.mark.django_db
def test_reset_mails_for_one_email_are_throttled(settings):
    settings.EMITRUN_PASSWORD_RESETS_PER_EMAIL = 2
    user = UserFactory(email=fresh_email())
    for _ in range(2):
        assert (
            fresh_client().post("/accounts/password_reset/", {"email": user.email}).status_code
            == 302
        )
    r = fresh_client().post("/accounts/password_reset/", {"email": user.email})
    assert r.status_code == 429
    assert int(r["Retry-After"]) > 0
    assert "Too many reset requests" in r.content.decode()
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_account_page_shows_email_and_organizations(owner, org):
    body = signed_in(owner).get("/accounts/profile/").content.decode()
    assert owner.email in body
    assert f'href="/o/{org.slug}/"' in body
    assert Client().get("/accounts/profile/")["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_account_page_changes_the_password_and_keeps_you_signed_in(owner):
    client = signed_in(owner)
    data = {"old_password": "wrong", "new_password1": STRONG, "new_password2": STRONG}
    r = client.post("/accounts/profile/", data)
    assert r.status_code == 422
    assert 'id="id_old_password-error"' in r.content.decode()
    r = client.post("/accounts/profile/", {**data, "old_password": PASSWORD})
    assert r.status_code == 302
    assert client.get("/accounts/profile/").status_code == 200
    owner.refresh_from_db()
    assert owner.check_password(STRONG)


DEAD_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


@pytest.mark.django_db
def test_signing_in_works_while_the_cache_is_down(settings):
    settings.CACHES = DEAD_CACHE
    user = UserFactory(email=fresh_email())
    r = fresh_client().post("/accounts/login/", {"email": user.email, "password": "nope"})
    assert r.status_code == 422
    client = fresh_client()
    r = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert r.status_code == 302
    assert client.get("/accounts/profile/").status_code == 200

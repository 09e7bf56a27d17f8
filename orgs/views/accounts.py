"""Sign up, sign in (throttled), password reset and the account page."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from emitrun.errors import ValidationFailed
from orgs import actions, throttle
from orgs.access import memberships_of
from orgs.forms import InvitedPasswordResetForm, SignInForm, SignUpForm, add_domain_errors


@sensitive_post_parameters("password", "confirm_password")
@never_cache
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("orgs:home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = actions.create_account(
                email=form.cleaned_data["email"], password=form.cleaned_data["password"]
            )
        except ValidationFailed as exc:
            add_domain_errors(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("orgs:home")
    status = 422 if form.errors else 200
    return render(request, "registration/signup.html", {"form": form}, status=status)


@sensitive_post_parameters("password")
@never_cache
def sign_in(request: HttpRequest) -> HttpResponse:
    """Email and password; failures are counted per client address and per email, and past
    the limit the answer is 429 with Retry-After, before the password is checked."""
    next_url = _safe_next(request)
    if request.user.is_authenticated and request.method == "GET":
        return redirect(next_url)
    form = SignInForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return _sign_in_page(request, form, next_url, status=422 if form.errors else 200)
    email = form.cleaned_data["email"].strip().lower()
    wait = throttle.retry_after(request, email)
    if wait:
        form.add_error(None, f"Too many failed attempts. Try again in {_minutes(wait)}.")
        response = _sign_in_page(request, form, next_url, status=429)
        response["Retry-After"] = str(wait)
        return response
    user = authenticate(request, username=email, password=form.cleaned_data["password"])
    if user is None:
        throttle.record(request, email)
        form.add_error(None, "Email or password is incorrect.")
        return _sign_in_page(request, form, next_url, status=422)
    throttle.clear(request, email)
    login(request, user)
    return redirect(next_url)


def _sign_in_page(
    request: HttpRequest, form: SignInForm, next_url: str, *, status: int
) -> HttpResponse:
    context = {"form": form, "next": next_url}
    return render(request, "registration/login.html", context, status=status)


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    ok = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if ok else settings.LOGIN_REDIRECT_URL


def _minutes(seconds: int) -> str:
    minutes = -(-seconds // 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


# Django's view, with a form that also reaches invited people who have no password yet.
_password_reset = auth_views.PasswordResetView.as_view(form_class=InvitedPasswordResetForm)


@never_cache
def password_reset(request: HttpRequest) -> HttpResponse:
    """Django's reset view, throttled per address and per email so that nobody can flood
    someone's inbox with reset mails."""
    if request.method == "POST":
        email = str(request.POST.get("email", ""))
        wait = throttle.retry_after(request, email, "reset")
        if wait:
            form = InvitedPasswordResetForm(request.POST)
            form.add_error(None, f"Too many reset requests. Try again in {_minutes(wait)}.")
            context = {"form": form}
            response = render(request, "registration/password_reset_form.html", context, status=429)
            response["Retry-After"] = str(wait)
            return response
        throttle.record(request, email, "reset")
    return _password_reset(request)


@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """The signed-in person's email, organizations and a change-password form."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)  # stay signed in on this device
        messages.success(request, "Password changed.")
        return redirect("orgs:account")
    context = {"form": form, "memberships": memberships_of(request.user)}
    status = 422 if form.errors else 200
    return render(request, "registration/account.html", context, status=status)

"""Mail sent to members: invitations. Sent after commit, never inside a transaction."""

import logging
import smtplib

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from orgs.models import Membership, User

log = logging.getLogger("emitrun.orgs.mail")


def set_password_url(user: User) -> str:
    """A link to Django's password-reset confirm page, where an invited person chooses a
    password. It stops working once a password is set, or after PASSWORD_RESET_TIMEOUT."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return settings.EMITRUN_PUBLIC_URL + path


def send_invitation(membership_id: int, *, invited_by: str) -> None:
    """Tells the person they were added: with a set-password link if they have no password
    yet, else a link to sign in. Nothing is sent if the membership is gone by now."""
    membership = (
        Membership.objects.select_related("user", "organization").filter(pk=membership_id).first()
    )
    if membership is None:
        return
    user = membership.user
    needs_password = not user.has_usable_password()
    context = {
        "organization": membership.organization,
        "role": membership.role,
        "invited_by": invited_by,
        "needs_password": needs_password,
        "set_password_url": set_password_url(user) if needs_password else "",
        "sign_in_url": settings.EMITRUN_PUBLIC_URL + reverse("login"),
        "reset_url": settings.EMITRUN_PUBLIC_URL + reverse("password_reset"),
    }
    try:
        send_mail(
            subject=f"You were added to {membership.organization.name} on emitrun",
            message=render_to_string("orgs/invitation_email.txt", context),
            from_email=None,
            recipient_list=[user.email],
        )
    except (smtplib.SMTPException, OSError):
        # The membership stands; the person can still ask for a reset link themselves.
        log.warning("invitation mail for membership %s not sent", membership_id, exc_info=True)

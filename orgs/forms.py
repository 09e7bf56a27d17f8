"""Forms of accounts, organizations, members and new spaces. They check the input's
shape; the rules (uniqueness, roles, limits) stay in the actions, whose ValidationFailed
details land on the fields through `add_domain_errors`."""

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import PasswordResetForm

from emitrun.errors import ValidationFailed
from orgs.models import Role, User

MEMBER_ROLES = [(r.value, r.label) for r in Role]


def add_domain_errors(form: forms.Form, error: ValidationFailed) -> None:
    """Puts an action's per-field errors on the form's fields (the rest on the form)."""
    details = error.details if isinstance(error.details, dict) else {}
    for field, messages in details.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
    if not details:
        form.add_error(None, error.message)


class SignUpForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254)
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    confirm_password = forms.CharField(
        label="Confirm password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email exists. Sign in, or reset your password."
            )
        return email

    def clean(self) -> dict:
        data = super().clean()
        password, confirm = data.get("password"), data.get("confirm_password")
        if password and confirm and password != confirm:
            self.add_error("confirm_password", "The two passwords differ.")
        elif password:
            user = User(email=data.get("email") or "")
            try:
                password_validation.validate_password(password, user)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class SignInForm(forms.Form):
    email = forms.EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autofocus": True})
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class InvitedPasswordResetForm(PasswordResetForm):
    """Django's reset form, also for invited people who never set a password: the emailed
    link proves they own the address, exactly as for a forgotten password."""

    def get_users(self, email: str) -> list[User]:
        return list(User.objects.filter(email__iexact=email.strip(), is_active=True))


class OrganizationForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=100)


class SpaceForm(forms.Form):
    name = forms.CharField(label="Space name", max_length=100)
    slug = forms.SlugField(
        label="Slug (optional)",
        max_length=60,
        required=False,
        help_text="Lowercase letters, digits and hyphens; made from the name when empty.",
    )
    delivery_timeout_seconds = forms.IntegerField(
        label="Delivery timeout (seconds)",
        initial=30,
        min_value=1,
        max_value=3600,
        help_text="A delivered job not acknowledged within this time goes back to pending.",
    )
    retention_days = forms.IntegerField(
        label="Retention (days)",
        initial=30,
        min_value=1,
        max_value=3650,
        help_text="Finished jobs older than this are deleted.",
    )

    def clean_slug(self) -> str | None:
        return self.cleaned_data["slug"].lower() or None


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254)
    role = forms.ChoiceField(label="Role", choices=MEMBER_ROLES, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=MEMBER_ROLES)

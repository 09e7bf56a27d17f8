"""Run inside Django (the bench's settings): a fresh organization, space, worker token and
signed-in dashboard session for the load, printed as JSON.
"""

import json
import os
import secrets

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emitrun.settings")
    django.setup()
    from django.contrib.sessions.backends.db import SessionStore

    from orgs import actions as org_actions
    from orgs.models import User
    from spaces import actions as space_actions

    email = f"bench-{secrets.token_hex(4)}@example.com"
    user = User.objects.create_user(email, password=secrets.token_urlsafe(16))
    org = org_actions.create_organization(name=f"Bench {email}", owner=user)
    space = space_actions.create_space(organization=org, name="Bench", slug="bench")
    _, secret = space_actions.issue_token(space=space, name="bench", scopes=["jobs:admin"])
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    out = {
        "space_id": str(space.id),
        "org": org.slug,
        "space": space.slug,
        "token": secret,
        "session": session.session_key,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

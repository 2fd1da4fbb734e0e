"""The staff login the demo creates, so the admin can be opened right away."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model

STAFF_LOGIN = "admin@sellerdesk.test"
#: Printed by the command and named in the README; never set in production mode.
DEVELOPMENT_PASSWORD = "sellerdesk-demo"  # noqa: S105 - a documented development login


def demo_staff_login_exists() -> bool:
    user_model = get_user_model()
    return user_model._default_manager.filter(**{user_model.USERNAME_FIELD: STAFF_LOGIN}).exists()


def demo_staff_login(*, production: bool) -> str:
    """Create the superuser ``admin@sellerdesk.test`` or reset its password; returns the password.

    Development gets the documented ``DEVELOPMENT_PASSWORD``. In production a known password
    would be an open door, so a random one is set and returned for the caller to show once.
    """
    password = secrets.token_urlsafe(16) if production else DEVELOPMENT_PASSWORD
    user_model = get_user_model()
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: STAFF_LOGIN}).first()
    if user is None:
        user = user_model(**{user_model.USERNAME_FIELD: STAFF_LOGIN})
    for name, value in (
        ("email", STAFF_LOGIN),
        ("is_staff", True),
        ("is_superuser", True),
        ("is_active", True),
    ):
        setattr(user, name, value)
    user.set_password(password)
    user.save()
    return password

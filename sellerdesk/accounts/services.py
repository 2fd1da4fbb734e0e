"""Every change to people, teams and roles, and the audit log they leave."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from sellerdesk.accounts.models import (
    STAFF_ROLES,
    AuditAction,
    AuditEvent,
    Merchant,
    Role,
    Team,
    User,
)
from sellerdesk.core.errors import ValidationError
from sellerdesk.core.i18n import merchant_language
from sellerdesk.core.text import clean_text
from sellerdesk.outbox.services import email_enqueue


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    target: str = "",
    ip: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Append one row to the audit log."""
    return AuditEvent.objects.create(
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        target=target[:254],
        ip=ip or None,
        detail=detail,
    )


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def _clean_email(email: str) -> str:
    address = normalize_email(email)
    try:
        validate_email(address)
    except DjangoValidationError:
        raise ValidationError(f"{email!r} is not an e-mail address") from None
    # Checked after lower-casing, which may lengthen it ("İ" is two characters in lower case).
    limit = User._meta.get_field("email").max_length
    if limit is not None and len(address) > limit:
        raise ValidationError(f"an e-mail address is at most {limit} characters")
    return address


def _clean_password(password: str | None, user: User | None = None) -> None:
    if password is None:
        return
    try:
        validate_password(password, user)
    except DjangoValidationError as error:
        raise ValidationError(" ".join(error.messages)) from None


def user_create(
    *,
    email: str,
    password: str | None,
    role: str,
    full_name: str = "",
    merchant: Merchant | None = None,
    teams: Iterable[Team] = (),
    languages: str = "",
    by: User | None = None,
    invite_base_url: str | None = None,
) -> User:
    """Create a merchant user or a staff member. ``password=None`` leaves it unusable (the
    person sets one through the password-reset e-mail). ``invite_base_url``: the site's
    address, for the invitation e-mail queued with the user (``user_invite``)."""
    address = _clean_email(email)
    if role not in Role.values:
        raise ValidationError(f"unknown role {role!r}")
    if role == Role.MERCHANT and merchant is None:
        raise ValidationError("a merchant user belongs to a merchant")
    if role != Role.MERCHANT and merchant is not None:
        raise ValidationError("staff do not belong to a merchant")
    if User.objects.filter(email=address).exists():
        raise ValidationError(f"a user with the address {address} exists")
    with transaction.atomic():
        user = User(
            email=address,
            full_name=clean_text(
                full_name,
                "the name",
                required=False,
                limit=User._meta.get_field("full_name").max_length,
            ),
            role=role,
            merchant=merchant,
            languages=languages,
            is_superuser=role == Role.ADMIN,
        )
        _clean_password(password, user)
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save()
        if teams:
            user.teams.set(list(teams))
        audit_record(
            action=AuditAction.USER_CREATED,
            actor=by,
            target=address,
            role=role,
            merchant=merchant.external_id if merchant else None,
            teams=sorted(t.name for t in teams),
        )
        if invite_base_url is not None:
            user_invite(user=user, base_url=invite_base_url)
    return user


def user_set_role(*, user: User, role: str, by: User | None = None) -> User:
    """Change a staff member's role (agent, lead, admin)."""
    if role not in STAFF_ROLES or user.role not in STAFF_ROLES:
        raise ValidationError("only staff roles change (agent, lead, admin)")
    with transaction.atomic():
        before = user.role
        user.role = role
        user.is_superuser = role == Role.ADMIN
        user.save(update_fields=["role", "is_superuser"])
        audit_record(
            action=AuditAction.USER_CHANGED, actor=by, target=user.email, role=[before, role]
        )
    return user


def user_set_active(*, user: User, active: bool, by: User | None = None) -> User:
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        audit_record(action=AuditAction.USER_CHANGED, actor=by, target=user.email, active=active)
    return user


def user_set_language(*, user: User, language: str) -> User:
    """Remember the pages' language a person chose with the switcher (``""`` forgets it)."""
    codes = {code for code, _name in settings.LANGUAGES}
    if language and language not in codes:
        raise ValidationError(f"unknown language {language!r}")
    if user.ui_language != language:
        user.ui_language = language
        user.save(update_fields=["ui_language"])
    return user


def user_set_password(*, user: User, password: str, by: User | None = None) -> User:
    _clean_password(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(action=AuditAction.PASSWORD_CHANGED, actor=by or user, target=user.email)
    return user


def team_get_or_create(*, name: str, languages: str = "", by: User | None = None) -> Team:
    clean = name.strip()
    if not clean:
        raise ValidationError("a team needs a name")
    with transaction.atomic():
        team, created = Team.objects.get_or_create(name=clean, defaults={"languages": languages})
        if created:
            audit_record(action=AuditAction.TEAM_CHANGED, actor=by, target=clean, created=True)
    return team


def user_join_team(*, user: User, team: Team, by: User | None = None) -> None:
    if not user.is_agent:
        raise ValidationError("only staff join teams")
    with transaction.atomic():
        user.teams.add(team)
        audit_record(action=AuditAction.TEAM_CHANGED, actor=by, target=team.name, joined=user.email)


# --- Sign-in throttling ---------------------------------------------------------------------
# Failures are counted from the audit log, so every web process sees the same count without a
# shared cache.


def signin_throttled(*, email: str, ip: str | None) -> bool:
    """Whether a sign-in for this address, or from this IP, is refused for now."""
    window = timezone.now() - timedelta(seconds=settings.SELLERDESK_SIGNIN_WINDOW_SECONDS)
    failures = AuditEvent.objects.filter(action=AuditAction.SIGN_IN_FAILED, at__gte=window)
    if failures.filter(target=normalize_email(email)).count() >= (
        settings.SELLERDESK_SIGNIN_MAX_FAILURES
    ):
        return True
    return bool(
        ip and failures.filter(ip=ip).count() >= settings.SELLERDESK_SIGNIN_MAX_FAILURES_PER_IP
    )


def user_leave_team(*, user: User, team: Team, by: User | None = None) -> None:
    with transaction.atomic():
        user.teams.remove(team)
        audit_record(action=AuditAction.TEAM_CHANGED, actor=by, target=team.name, left=user.email)


def user_invite(*, user: User, base_url: str) -> None:
    """Queue the e-mail that gives the person a link to choose their password (the
    password-reset flow's link, valid ``PASSWORD_RESET_TIMEOUT``), in the transaction that
    stores them: the worker sends it and retries while the mail server is away, and the
    request that added them neither waits on it nor fails with it after the user is stored."""
    from django.contrib.auth.tokens import default_token_generator
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    token = default_token_generator.make_token(user)
    link = base_url.rstrip("/") + reverse(
        "accounts:password_reset_confirm",
        kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": token},
    )
    # A merchant user reads it in their merchant's language; staff in English.
    language = merchant_language(user.merchant) if user.merchant_id else "en"
    with translation.override(language):
        subject = gettext("Your sellerdesk account")
        message = gettext(
            "An account on sellerdesk was opened for %(email)s.\n\n"
            "Choose your password here:\n%(link)s\n"
        ) % {"email": user.email, "link": link}
    with transaction.atomic():  # the caller's, when it has one (user_create's)
        email_enqueue(
            key=f"invite:{user.pk}:{token}", to=[user.email], subject=subject, body=message
        )

"""Who the desk serves and who serves it: merchants, their users, agents in teams, roles,
and the audit log of sign-ins and account changes."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone


class MerchantStatus(models.TextChoices):
    POTENTIAL = "potential", "Potential (applicant)"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    CLOSED = "closed", "Closed"


class Merchant(models.Model):
    """A seller on the marketplace, keyed by the marketplace's own id.

    The record holds the values of the merchant's most recently filed conversation
    (``profile_at`` is that conversation's ``created_at``); each conversation keeps the country
    the merchant had when it was filed.
    """

    # Unique by a constraint rather than unique=True: on PostgreSQL the latter also builds a
    # LIKE (varchar_pattern_ops) index that nothing here queries and every insert maintains.
    external_id = models.CharField(max_length=200)
    name = models.CharField(max_length=500, blank=True, default="")
    country = models.CharField(max_length=2)
    status = models.CharField(
        max_length=16, choices=MerchantStatus.choices, default=MerchantStatus.ACTIVE
    )
    language = models.CharField(max_length=35, blank=True, default="")
    profile_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["country"])]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="merchant_external_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.external_id} ({self.country})"


class Role(models.TextChoices):
    MERCHANT = "merchant", "Merchant user"
    AGENT = "agent", "Agent"
    LEAD = "lead", "Team lead"
    ADMIN = "admin", "Admin"


#: Roles that work in the agents' desk.
STAFF_ROLES = frozenset({Role.AGENT.value, Role.LEAD.value, Role.ADMIN.value})


class Team(models.Model):
    """A group of agents, e.g. the EU team or the CN team, with the languages it answers in."""

    name = models.CharField(max_length=100)
    #: Comma-separated language tags (``en,de,tr``).
    languages = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name"], name="team_name_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager["User"]):
    """Users are created through ``accounts.services``; this serves Django's own tooling."""

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        from sellerdesk.accounts.services import user_create

        extra.setdefault("role", Role.AGENT)
        return user_create(email=email, password=password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["role"] = Role.ADMIN
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Everyone who signs in: merchant users (each belongs to one merchant) and staff.

    Staff are agents, team leads and admins; only admins reach Django's admin pages.
    """

    #: Stored lower-cased: sign-in is case-insensitive.
    email = models.EmailField(max_length=254)
    full_name = models.CharField(max_length=200, blank=True, default="")
    role = models.CharField(max_length=8, choices=Role.choices)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    teams = models.ManyToManyField(Team, blank=True, related_name="members")
    #: Comma-separated language tags the person reads and writes.
    languages = models.CharField(max_length=200, blank=True, default="")
    #: The pages' language this person chose with the switcher (``""``: none chosen; the
    #: merchant's language, then the browser's, decide). See ``core.i18n``.
    ui_language = models.CharField(max_length=16, blank=True, default="")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["email"], name="user_email_unique"),
            # A merchant user belongs to exactly one merchant; staff belong to none.
            models.CheckConstraint(
                condition=(Q(role=Role.MERCHANT) & Q(merchant__isnull=False))
                | (~Q(role=Role.MERCHANT) & Q(merchant__isnull=True)),
                name="user_merchant_only_for_merchant_users",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def is_staff(self) -> bool:
        """Django's admin pages: admins only."""
        return self.role == Role.ADMIN

    @property
    def is_agent(self) -> bool:
        """Works in the desk (agents, leads and admins)."""
        return self.role in STAFF_ROLES

    @property
    def is_lead(self) -> bool:
        return self.role in {Role.LEAD, Role.ADMIN}

    @property
    def is_merchant_user(self) -> bool:
        return self.role == Role.MERCHANT

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return (self.full_name or self.email).split(" ")[0]


class AuditAction(models.TextChoices):
    SIGN_IN = "sign_in", "Signed in"
    SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
    SIGN_IN_THROTTLED = "sign_in_throttled", "Sign-in refused (too many attempts)"
    SIGN_OUT = "sign_out", "Signed out"
    PASSWORD_RESET_REQUESTED = "password_reset_requested", "Password reset requested"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    TWO_FACTOR_ENABLED = "two_factor_enabled", "Two-factor enabled"
    TWO_FACTOR_FAILED = "two_factor_failed", "Two-factor code refused"
    USER_CREATED = "user_created", "User created"
    USER_CHANGED = "user_changed", "User changed"
    TEAM_CHANGED = "team_changed", "Team changed"
    MACRO_CHANGED = "macro_changed", "Macro changed"
    RULE_CHANGED = "rule_changed", "Automation rule changed"
    HELP_CHANGED = "help_changed", "Help center changed"
    EDITION_CHANGED = "edition_changed", "Report edition changed"
    EDITION_PUBLISHED = "edition_published", "Report edition published"
    IMPROVEMENT_CHANGED = "improvement_changed", "Improvement changed"


class AuditEvent(models.Model):
    """Who did what to the accounts and settings, and every sign-in attempt.

    Conversations keep their own trail (``conversations.Activity``).
    """

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    #: What the action was about: the e-mail tried at sign-in, the user or team changed.
    target = models.CharField(max_length=254, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            # Sign-in throttling: recent failures for an address, or from an IP.
            models.Index(fields=["action", "target", "at"], name="audit_action_target_idx"),
            models.Index(fields=["action", "ip", "at"], name="audit_action_ip_idx"),
            models.Index(fields=["at"], name="audit_at_idx"),
        ]
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target}"

"""API keys and the idempotency records of the requests they made."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from sellerdesk.accounts.models import Merchant


class Scope(models.TextChoices):
    #: GET on everything but reports.
    READ = "read", "Read"
    #: Read, and every change.
    WRITE = "write", "Read and write"
    #: The reports endpoint only.
    REPORTS = "reports", "Reports"


class ApiKey(models.Model):
    """A key a client sends as ``Authorization: Bearer <key>``.

    Only the SHA-256 of the key is stored: a key is 40 random characters, so a plain hash is
    as safe as a slow one and costs one indexed look-up a request. ``prefix`` (its first 8
    characters) names it in lists and to ``sellerdesk apikey revoke``.
    """

    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=8, choices=Scope.choices)
    #: A key of one merchant touches only that merchant's rows; none: the whole marketplace.
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, null=True, blank=True, related_name="api_keys"
    )
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    #: Updated at most once a minute.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key_hash"], name="apikey_hash_unique"),
            models.UniqueConstraint(fields=["prefix"], name="apikey_prefix_unique"),
            # The report covers every merchant: a merchant's key never has that scope.
            models.CheckConstraint(
                condition=~Q(scope="reports") | Q(merchant__isnull=True),
                name="apikey_reports_not_merchant",
            ),
        ]
        ordering = ["created_at", "id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… {self.name}"

    @property
    def can_write(self) -> bool:
        return self.scope == Scope.WRITE


class IdempotencyRecord(models.Model):
    """The response to a creating request sent with an ``Idempotency-Key``, stored in the
    same transaction as what it created: a retry gets this response and creates nothing."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=200)
    #: SHA-256 of the method, the path and the body as parsed JSON: the same key with another
    #: request is a client's mistake.
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    #: The response body exactly as sent (jsonb would reorder its keys).
    body = models.TextField()
    location = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_unique"),
        ]
        indexes = [
            models.Index(fields=["api_key", "created_at"], name="idempotency_age_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id}: {self.key}"


class WebhookEvent(models.TextChoices):
    CONVERSATION_CREATED = "conversation.created", "A conversation was opened"
    MESSAGE_CREATED = "message.created", "A public message was written"
    CONVERSATION_STATUS_CHANGED = "conversation.status_changed", "The status changed"
    CONVERSATION_TAGGED = "conversation.tagged", "A tag was added or removed"
    SLA_BREACHED = "sla.breached", "An SLA target was missed"


class WebhookSubscription(models.Model):
    """A receiver of events: each matching event is an outbox item (kind ``webhook``) signed
    with ``secret`` when delivered. The secret is stored as is, since signing needs it (unlike
    an API key's hash); it is shown once, at creation, and never logged."""

    url = models.URLField(max_length=2000)
    #: The ``WebhookEvent`` values it receives.
    events = models.JSONField(default=list)
    secret = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    #: Only this merchant's events; none: every merchant's.
    merchant = models.ForeignKey(
        Merchant,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_subscriptions",
    )
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            # emit()'s one query, on every change: over the active rows alone.
            models.Index(fields=["merchant"], name="webhook_active_idx", condition=Q(active=True)),
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.url} ({', '.join(self.events)})"

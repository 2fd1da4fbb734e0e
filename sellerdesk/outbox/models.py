"""The outbox: every outgoing e-mail, notification and webhook, written as a row in the same
transaction as the change that caused it, and delivered by the worker."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    #: Gave up after the last attempt; an admin can send it again.
    FAILED = "failed", "Failed"


class OutboxItem(models.Model):
    kind = models.CharField(max_length=8, choices=OutboxKind.choices)
    #: The idempotency key: one item per key, ever. It travels with the delivery (the e-mail's
    #: Message-ID, the webhook's id header) so that a receiver can drop a repeat.
    key = models.CharField(max_length=200)
    payload = models.JSONField()
    status = models.CharField(
        max_length=9, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    #: A worker's lease: while it lasts no other worker takes the item; a worker killed
    #: mid-delivery leaves the item to be taken again when it ends.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key"], name="outbox_key_unique")]
        indexes = [
            # What is due: the worker's only query, over the pending rows alone.
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_due_idx",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["created_at"], name="outbox_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"


class PeriodicJob(models.Model):
    """When each of the worker's periodic jobs is next due. Workers take a run by moving
    ``next_run_at`` forward in one UPDATE, so several workers schedule each run once."""

    name = models.CharField(max_length=100)
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name"], name="periodic_job_unique")]

    def __str__(self) -> str:
        return self.name

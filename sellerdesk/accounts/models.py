"""Who the desk serves: the marketplace's merchants (sellers)."""

from __future__ import annotations

from django.db import models


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

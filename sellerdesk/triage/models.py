"""Triage's rows: the trained model (in the database, so every web and worker process reads
the same one), each conversation's cached embedding, the suggestions and the decisions on them,
and the per-tag auto-apply thresholds."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from sellerdesk.conversations.models import Conversation, Tag


class TriageModel(models.Model):
    """One trained model. The newest ``active`` row is the one in use."""

    created_at = models.DateTimeField(default=timezone.now)
    embedder = models.CharField(max_length=40)
    dim = models.PositiveIntegerField()
    #: Serialised heads (``classifier.LinearHead.to_bytes``) and language centring.
    tags_head = models.BinaryField()
    kind_head = models.BinaryField()
    team_head = models.BinaryField()
    centering = models.BinaryField()
    #: Minimum confidence to suggest: {"tag": {name: t}, "kind": t, "team": t}.
    thresholds = models.JSONField(default=dict)
    #: ``triage eval``'s figures on the held-out split, and training counts.
    metrics = models.JSONField(default=dict)
    trained_on = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"triage model {self.pk} ({self.embedder}, {self.trained_on} conversations)"


class Embedding(models.Model):
    """A conversation's text as a vector, cached so that retraining embeds only what is new.
    ``digest`` is of the embedded text: an edited subject is embedded again."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="+", primary_key=True
    )
    embedder = models.CharField(max_length=40)
    digest = models.CharField(max_length=32)
    vector = models.BinaryField()

    def __str__(self) -> str:
        return f"embedding of {self.conversation_id}"


class Field(models.TextChoices):
    TAG = "tag", "Tag"
    KIND = "kind", "Kind"
    TEAM = "team", "Team"


class State(models.TextChoices):
    PENDING = "pending", "Suggested"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    #: Applied by the auto-apply threshold (an agent may still reject it: it is undone).
    AUTO = "auto", "Applied automatically"


class Suggestion(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    model = models.ForeignKey(TriageModel, on_delete=models.SET_NULL, null=True, related_name="+")
    field = models.CharField(max_length=4, choices=Field.choices)
    #: The tag's normalised name, the kind's value, or the team's id.
    value = models.CharField(max_length=200)
    confidence = models.FloatField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "field", "value"], name="triage_suggestion_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0) & models.Q(confidence__lte=1),
                name="triage_confidence_range",
            ),
        ]
        ordering = ["field", "-confidence"]

    def __str__(self) -> str:
        return f"{self.field}={self.value} ({self.confidence:.2f}, {self.state})"


class Run(models.Model):
    """A conversation the worker has triaged (with or without a suggestion): the worker picks
    recent conversations that have none."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, related_name="triage_run", primary_key=True
    )
    model = models.ForeignKey(TriageModel, on_delete=models.SET_NULL, null=True, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    suggested = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"triage of {self.conversation_id}"


class TagSetting(models.Model):
    """A lead's choice for one tag: apply the suggestion without asking at this confidence
    or above (empty: always ask)."""

    tag = models.OneToOneField(Tag, on_delete=models.CASCADE, related_name="+", primary_key=True)
    auto_apply_at = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(auto_apply_at__isnull=True)
                | (models.Q(auto_apply_at__gt=0) & models.Q(auto_apply_at__lte=1)),
                name="triage_auto_apply_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tag_id}: {self.auto_apply_at}"

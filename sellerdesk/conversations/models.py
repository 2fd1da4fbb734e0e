"""THE domain: conversations between merchants and the support desk.

Services (``services.py``, ``importer.py``) are the only writers. They keep the stored facts
(``first_response_at``, ``resolved_at`` and their durations, the resolution stretches, the tag
pairs) right whatever order messages and status changes arrive in, so that reports aggregate
them in SQL without reading a single message.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sellerdesk.accounts.models import Merchant, Team


class Channel(models.TextChoices):
    CHAT = "chat", _("Chat")
    EMAIL = "email", _("E-mail")
    WEB = "web", _("Web form")
    API = "api", _("API")
    PHONE = "phone", _("Phone")


class Kind(models.TextChoices):
    QUESTION = "question", _("Question")
    REQUEST = "request", _("Request")
    PROPOSAL = "proposal", _("Proposal")
    COMPLAINT = "complaint", _("Complaint")


class InitiatedBy(models.TextChoices):
    MERCHANT = "merchant", "Merchant"
    SUPPORT = "support", "Support (outreach)"


class Status(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending merchant")
    ON_HOLD = "on_hold", _("On hold")
    SOLVED = "solved", _("Solved")
    CLOSED = "closed", _("Closed")


RESOLVED_STATUSES = frozenset({Status.SOLVED.value, Status.CLOSED.value})
#: Statuses in which support owes the next move.
ACTIVE_STATUSES = frozenset({Status.NEW.value, Status.OPEN.value, Status.ON_HOLD.value})


#: The queues' statuses, sorted: the partial indexes and the selectors must spell them alike.
UNASSIGNED_STATUSES = sorted(ACTIVE_STATUSES)
WORKING_STATUSES = sorted(ACTIVE_STATUSES | {Status.PENDING.value})


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Outcome(models.TextChoices):
    UPHELD = "upheld", _("Upheld")
    PARTIALLY_UPHELD = "partially_upheld", _("Partially upheld")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    NO_ACTION = "no_action", _("No action")


class AuthorType(models.TextChoices):
    MERCHANT = "merchant", "Merchant"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class Tag(models.Model):
    """A topic label. ``name`` is the normalized form (unique); ``display_name`` the first seen."""

    name = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200)

    class Meta:
        # A constraint, not unique=True: no unused LIKE index on PostgreSQL (see Merchant).
        constraints = [models.UniqueConstraint(fields=["name"], name="tag_name_unique")]

    def __str__(self) -> str:
        return self.display_name


class Conversation(models.Model):
    external_id = models.CharField(max_length=200)
    # Served by the (merchant, created_at) index below.
    merchant = models.ForeignKey(
        Merchant, on_delete=models.PROTECT, related_name="conversations", db_index=False
    )
    #: The merchant's country as of filing: reports segment by this, not the merchant's today.
    country = models.CharField(max_length=2)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.QUESTION)
    initiated_by = models.CharField(
        max_length=8, choices=InitiatedBy.choices, default=InitiatedBy.MERCHANT
    )
    subject = models.TextField(blank=True, default="")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.NEW)
    spam = models.BooleanField(default=False)
    #: null = undecided, which is not the same as any outcome.
    outcome = models.CharField(  # noqa: DJ001
        max_length=16, choices=Outcome.choices, null=True, blank=True
    )
    created_at = models.DateTimeField()

    # Stored facts, kept by the services.
    #: The earliest public agent message at or after created_at.
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_seconds = models.FloatField(null=True, blank=True)
    #: Start of the open-ended resolution stretch (null unless solved/closed now).
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_seconds = models.FloatField(null=True, blank=True)
    #: The latest status change: a report as of an earlier moment reads the stretches instead.
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_seq = models.PositiveIntegerField(default=0)
    message_seq = models.PositiveIntegerField(default=0)

    # Work in the desk. Bulk import writes none of these: database defaults fill them.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_conversations",
        db_index=False,
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        db_index=False,
    )
    priority = models.CharField(
        max_length=8, choices=Priority.choices, default=Priority.NORMAL, db_default=Priority.NORMAL
    )
    #: When support waits on the merchant: the moment the merchant is asked to answer by.
    merchant_due_at = models.DateTimeField(null=True, blank=True)
    #: When the merchant gets a reminder (the 7-day rule's "day 5"); cleared once sent.
    merchant_remind_at = models.DateTimeField(null=True, blank=True)
    #: The last change by anyone (a message, a status, a field): automations' "since update".
    updated_at = models.DateTimeField(null=True, blank=True)
    # Service levels, stored by the SLA services: the policy that applies and when each
    # target falls due (null: met, paused or no target); sla_due_at is the earliest of them.
    sla_policy = models.ForeignKey(
        "sla.SlaPolicy",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    #: The earliest due time not yet recorded as breached: the breach sweep's index.
    sla_check_at = models.DateTimeField(null=True, blank=True)
    # The marketplace's references the conversation is about.
    order_ref = models.CharField(max_length=100, blank=True, default="", db_default="")
    product_ref = models.CharField(max_length=100, blank=True, default="", db_default="")
    invoice_ref = models.CharField(max_length=100, blank=True, default="", db_default="")

    tags: models.ManyToManyField[Tag, ConversationTag] = models.ManyToManyField(
        Tag, through="ConversationTag", related_name="conversations"
    )

    class Meta:
        indexes = [
            # The report's own indexes differ by database: see migration 0002_report_indexes.
            models.Index(fields=["merchant", "created_at"]),
            # Search results, newest first over every conversation (conversations.search):
            # a common word's page is a short walk of this index, not a sort of every match.
            models.Index(fields=["created_at", "id"], name="conv_created_idx"),
            # "Did anything change status after as_of?": the report's fast path asks this.
            models.Index(fields=["status_changed_at"], name="conv_status_changed_idx"),
            # The desk's queues: one partial index per queue, in the queue's own order
            # (created_at, id), so a page is a walk of LIMIT rows whatever the history holds.
            # Closed history and imported conversations (no assignee, no team) touch few.
            models.Index(
                fields=["created_at", "id"],
                name="conv_q_unassigned_idx",
                condition=Q(status__in=UNASSIGNED_STATUSES, assignee__isnull=True),
            ),
            models.Index(
                fields=["assignee", "created_at", "id"],
                name="conv_q_mine_idx",
                condition=Q(status__in=WORKING_STATUSES, assignee__isnull=False),
            ),
            models.Index(
                fields=["team", "created_at", "id"],
                name="conv_q_team_idx",
                condition=Q(status__in=WORKING_STATUSES, team__isnull=False),
            ),
            models.Index(
                fields=["created_at", "id"],
                name="conv_q_waiting_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["created_at", "id"],
                name="conv_q_solved_idx",
                condition=Q(status="solved"),
            ),
            models.Index(
                fields=["created_at", "id"],
                name="conv_q_open_idx",
                condition=Q(status__in=WORKING_STATUSES),
            ),
            models.Index(
                fields=["merchant_due_at"],
                name="conv_merchant_due_idx",
                condition=Q(merchant_due_at__isnull=False),
            ),
            # "Due first": the working queues by service-level due time (nulls last, as the
            # index stores them), the waiting queue by the merchant's deadline.
            models.Index(
                fields=["sla_due_at", "id"],
                name="conv_q_sla_due_idx",
                condition=Q(status__in=WORKING_STATUSES),
            ),
            models.Index(
                fields=["merchant_due_at", "id"],
                name="conv_q_waiting_due_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["sla_check_at"],
                name="conv_sla_check_idx",
                condition=Q(sla_check_at__isnull=False),
            ),
            models.Index(
                fields=["merchant_remind_at"],
                name="conv_merchant_remind_idx",
                condition=Q(merchant_remind_at__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="conversation_external_id_unique"),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(status__in=sorted(RESOLVED_STATUSES)),
                name="conv_resolved_only_when_solved_or_closed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.subject[:60]}"

    #: How soon a target counts as "due soon" in the inbox.
    DUE_SOON = timedelta(hours=1)

    def sla_state(self) -> str:
        """ "breached", "due_soon" or "" from the stored due times, for the inbox."""
        now = timezone.now()
        dues = [
            d
            for d in (self.first_response_due_at, self.next_response_due_at, self.resolution_due_at)
            if d is not None
        ]
        if any(d <= now for d in dues):
            return "breached"
        if any(d <= now + self.DUE_SOON for d in dues):
            return "due_soon"
        return ""


class Message(models.Model):
    # The unique (conversation, external_id) index serves look-ups by conversation too.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    external_id = models.CharField(max_length=200)
    author_type = models.CharField(max_length=8, choices=AuthorType.choices)
    author_id = models.CharField(max_length=200, blank=True, default="")
    author_name = models.CharField(max_length=500, blank=True, default="")
    public = models.BooleanField(default=True)
    body = models.TextField()
    created_at = models.DateTimeField()
    #: The signed-in person who wrote it (null for imported and system messages).
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    #: The id the sending client gave it (live chat), so that a message the client sends again
    #: after a lost acknowledgement is stored once. Empty for everything else (a database
    #: default too: the importer's bulk inserts name their columns and leave it out).
    client_id = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "external_id"], name="message_unique_in_conversation"
            ),
            # Per conversation: a client id only has to be unique where it is sent.
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~Q(client_id=""),
                name="message_unique_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author_type} at {self.created_at:%Y-%m-%d %H:%M}"


class StatusChange(models.Model):
    """The event log of a conversation's status. Ordered by ``at``, ties by ``seq``."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="status_changes", db_index=False
    )
    status = models.CharField(max_length=8, choices=Status.choices)
    at = models.DateTimeField()
    seq = models.PositiveIntegerField()
    by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="status_change_seq"),
        ]
        ordering = ["at", "seq"]

    def __str__(self) -> str:
        return f"{self.status} at {self.at:%Y-%m-%d %H:%M}"


class ResolutionStretch(models.Model):
    """A stretch of time a conversation spent in solved/closed: [started_at, ended_at).

    Derived from the status changes by the services; lets a report as of a past moment find
    the resolution moment then with one indexed look-up instead of replaying the event log.
    """

    # Derived rows, written only by the services in the same transaction as the status
    # changes they come from: no database-level foreign key, whose check per row would cost
    # a bulk import more than the rows themselves (Django still cascades deletes).
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="resolution_stretches",
        db_constraint=False,
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    started_seconds = models.FloatField()

    def __str__(self) -> str:
        return f"resolved {self.started_at:%Y-%m-%d %H:%M} to {self.ended_at or 'now'}"


class PopulationCopy(models.Model):
    """A conversation's population facts, copied onto its tag rows by the services, so that
    the report counts tags and pairs from these rows' own indexes, without a join."""

    created_at = models.DateTimeField()
    country = models.CharField(max_length=2)
    #: Initiated by the merchant and not spam: in the report's population.
    counted = models.BooleanField()

    class Meta:
        abstract = True


class ConversationTag(PopulationCopy):
    # Both directions are served by the composite indexes below.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="conversation_tags", db_index=False
    )
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "tag"], name="conversation_tag_unique"),
        ]
        indexes = [
            # A tag's conversations, newest first; the report's topics (one range a tag).
            models.Index(
                fields=["tag", "created_at", "country", "counted", "conversation"],
                name="conv_tag_time_idx",
            ),
            # The report's own index differs by database: see migration 0002_report_indexes.
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.tag_id}"


class ConversationTagPair(PopulationCopy):
    """Two distinct tags carried together by one conversation, ``tag_a`` < ``tag_b`` by name.

    Kept as rows when tags change, so "tags used together in one chat" is a plain GROUP BY
    rather than a self-join at report time.
    """

    # Derived from ConversationTag by the services, in the same transaction: no database-level
    # foreign keys (three checks a row at bulk-import time); Django still cascades deletes.
    # Read by conversation only (the report counts from these rows' own columns); the unique
    # index leads with it, and tags are never deleted in bulk.
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="tag_pairs",
        db_index=False,
        db_constraint=False,
    )
    tag_a = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    tag_b = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "tag_a", "tag_b"], name="conversation_tag_pair_unique"
            ),
        ]
        # The report's own index differs by database: see migration 0002_report_indexes.

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.tag_a_id} + {self.tag_b_id}"


def _attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{timezone.now():%Y/%m}/{instance.conversation_id}/{filename}"


class Attachment(models.Model):
    """A file sent with a message. Served only through a permission-checked view."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments", db_index=False
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=_attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["conversation", "id"], name="attachment_conv_idx")]

    def __str__(self) -> str:
        return self.filename


class ActivityVerb(models.TextChoices):
    OPENED = "opened", "opened the conversation"
    STATUS = "status", "changed the status"
    ASSIGNED = "assigned", "assigned"
    TEAM = "team", "set the team"
    KIND = "kind", "set the kind"
    OUTCOME = "outcome", "set the outcome"
    PRIORITY = "priority", "set the priority"
    TAG_ADDED = "tag_added", "added a tag"
    TAG_REMOVED = "tag_removed", "removed a tag"
    REFERENCES = "references", "changed the references"
    SPAM = "spam", "marked spam"
    MACRO = "macro", "applied a macro"
    DEADLINE = "deadline", "set the merchant's deadline"
    SLA_BREACHED = "sla_breached", "missed a service-level target"


class Activity(models.Model):
    """The audit trail of one conversation: who changed what, when, by hand or automatically.

    Messages and status changes keep their own rows; this records every change made through
    the desk, the portal or a rule, single or bulk alike.
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="activities", db_index=False
    )
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    verb = models.CharField(max_length=16, choices=ActivityVerb.choices)
    #: The values before and after, or the tag's name: shown in the trail.
    detail = models.JSONField(default=dict, blank=True)
    #: Done by a rule or a suggestion rather than a person's own decision.
    automatic = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["conversation", "at"], name="activity_conv_at_idx")]
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.verb} at {self.at:%Y-%m-%d %H:%M}"


class ConversationViewer(models.Model):
    """Who has a conversation open in the desk, refreshed while the page stays open: the
    collision warning reads it."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="viewers", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="viewer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.conversation_id}"


class Macro(models.Model):
    """A saved reply with placeholders (``{{ merchant_name }}``, ``{{ deadline }}``...) that may
    also set tags and a status. Shared (no team) or kept for one team."""

    name = models.CharField(max_length=100)
    body = models.TextField(blank=True, default="")
    #: Comma-separated tag names added when applied.
    add_tags = models.CharField(max_length=500, blank=True, default="")
    set_status = models.CharField(max_length=8, choices=Status.choices, blank=True, default="")
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="macros"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name"], name="macro_name_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def tag_names(self) -> list[str]:
        return [t.strip() for t in self.add_tags.split(",") if t.strip()]

"""The e-mail channel's own rows: every mail received (raw, first of all), the Message-IDs that
thread mail into conversations, a conversation's reply token and address, and what a message's
e-mail looked like (where its quoted history starts)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from sellerdesk.accounts.models import Merchant
from sellerdesk.conversations.models import Conversation, Message


class InboundState(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    #: Could not be read or stored: kept with its bytes and the error, to be processed again.
    QUARANTINED = "quarantined", "Quarantined"


class InboundSource(models.TextChoices):
    SMTP = "smtp", "SMTP"
    LMTP = "lmtp", "LMTP"
    IMAP = "imap", "IMAP"
    FILE = "file", "File"


class InboundEmail(models.Model):
    """One mail as it arrived. Written (and committed) before anything else is done with it,
    so a mail that cannot be parsed or stored is never lost."""

    raw = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=8, choices=InboundSource.choices)
    #: The envelope: SMTP's MAIL FROM ("" for the null sender of bounces) and RCPT TO.
    mail_from = models.CharField(max_length=320, blank=True, default="")
    rcpt_to = models.JSONField(default=list, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(
        max_length=12, choices=InboundState.choices, default=InboundState.RECEIVED
    )
    error = models.TextField(blank=True, default="")
    #: What processing did when it did not make a message ("automatic mail outside any
    #: conversation of its sender", "a copy of a mail already stored").
    note = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    # What parsing found, for the admin's list.
    mail_id = models.CharField(max_length=255, blank=True, default="")
    from_address = models.CharField(max_length=254, blank=True, default="")
    subject = models.CharField(max_length=500, blank=True, default="")
    auto = models.CharField(max_length=12, blank=True, default="")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["received_at"], name="inbound_received_idx"),
            # Mail waiting to be processed (a receiver stopped between storing and
            # processing) and quarantined mail: few rows, found without a scan.
            models.Index(
                fields=["state", "received_at"],
                name="inbound_open_idx",
                condition=~Q(state="processed"),
            ),
        ]
        ordering = ["-received_at", "-id"]
        verbose_name = "inbound e-mail"

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M} {self.from_address or self.mail_from}"


class MessageIdRef(models.Model):
    """A Message-ID sellerdesk sent or received, and the conversation it belongs to.

    Keyed per merchant: a mail threads only into its own merchant's conversations, so the same
    id claimed by another merchant's mail is another row, never a match."""

    #: Without angle brackets; an id longer than 250 characters is stored as its SHA-256.
    mail_id = models.CharField(max_length=255)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    outbound = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mail_id", "merchant"], name="message_id_ref_unique"),
        ]
        indexes = [
            # A conversation's ids in order: the References of a reply.
            models.Index(fields=["conversation", "id"], name="message_id_ref_conv_idx"),
        ]

    def __str__(self) -> str:
        return f"<{self.mail_id}> → {self.conversation_id}"


class EmailThread(models.Model):
    """A conversation's e-mail side: the reply token (``[#SD-<token>]`` in the subject,
    ``support+<token>@…`` as the reply address) and where replies go."""

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="email_thread"
    )
    token = models.CharField(max_length=16)
    #: The merchant address that wrote last: replies go there.
    reply_address = models.CharField(max_length=254, blank=True, default="")
    reply_name = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token"], name="email_thread_token_unique")]

    def __str__(self) -> str:
        return f"SD-{self.token}"


class EmailMessageInfo(models.Model):
    """What a message's e-mail looked like; the Message row itself stays channel-neutral."""

    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, primary_key=True, related_name="email_info"
    )
    inbound = models.ForeignKey(
        InboundEmail, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_address = models.CharField(max_length=254, blank=True, default="")
    #: Where quoted history starts in the body (characters): the desk folds it from there.
    quoted_from = models.PositiveIntegerField(null=True, blank=True)
    #: The text was written from the mail's HTML (no plain-text part).
    from_html = models.BooleanField(default=False)
    #: "" for a person's mail; auto_reply, bounce or bulk for a machine's.
    auto = models.CharField(max_length=12, blank=True, default="")

    def __str__(self) -> str:
        return f"e-mail of message {self.message_id}"

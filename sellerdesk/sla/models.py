"""Service levels: business-hours calendars, SLA policies and their breaches, and automation
rules with the record of each time one fired."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from sellerdesk.accounts.models import Team
from sellerdesk.conversations.models import Conversation
from sellerdesk.sla.calendar import BusinessCalendar


class BusinessHours(models.Model):
    """A team's working week and holidays. The one without a team is the default."""

    name = models.CharField(max_length=100)
    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, null=True, blank=True, related_name="business_hours"
    )
    zone = models.CharField(max_length=64, default="UTC")
    #: ``{"mon": ["09:00-18:00"], ..., "sun": []}``
    week = models.JSONField(default=dict)
    #: ``["2027-01-01", ...]``: local dates without working time.
    holidays = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name"], name="business_hours_name_unique"),
        ]
        verbose_name_plural = "business hours"

    def __str__(self) -> str:
        return self.name

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar.from_config(zone=self.zone, week=self.week, holidays=self.holidays)


class CalendarWindow(models.Model):
    """One working window of a business calendar, in epoch seconds, with the working seconds
    of every window before it (``cum_s``). Working seconds up to an instant x are then the
    last window starting at or before x: ``cum_s + min(x - start_s, end_s - start_s)``, and
    between a and b ``cum(b) - cum(a)``: an indexed look-up per instant, in SQL, on both
    databases (the report's business-hours option). Derived rows, written by
    ``sla.windows.windows_ensure`` only; ``calendar_key`` is a digest of the calendar's
    definition, so an edited calendar gets rows of its own."""

    calendar_key = models.CharField(max_length=64)
    start_s = models.FloatField()
    end_s = models.FloatField()
    cum_s = models.FloatField()

    class Meta:
        indexes = [
            models.Index(fields=["calendar_key", "start_s"], name="calendar_window_start_idx")
        ]

    def __str__(self) -> str:
        return f"{self.calendar_key[:8]} {self.start_s:.0f}-{self.end_s:.0f}"


class CalendarCoverage(models.Model):
    """The span of time (epoch seconds) whose windows ``CalendarWindow`` holds for a key."""

    calendar_key = models.CharField(max_length=64, unique=True)
    start_s = models.FloatField()
    end_s = models.FloatField()

    def __str__(self) -> str:
        return f"{self.calendar_key[:8]} {self.start_s:.0f}-{self.end_s:.0f}"


class SlaPolicy(models.Model):
    """Targets for first response, next response and resolution, for the conversations that
    match its conditions (an empty condition matches all). The first match by position wins."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    #: Conditions: segment names (settings.SELLERDESK_SEGMENTS), kinds, priorities, channels.
    segments = models.JSONField(default=list, blank=True)
    kinds = models.JSONField(default=list, blank=True)
    priorities = models.JSONField(default=list, blank=True)
    channels = models.JSONField(default=list, blank=True)
    #: Targets in minutes (empty: no target).
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    #: Count the team's business hours (else every hour of the clock).
    business_hours = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name"], name="sla_policy_name_unique")]
        ordering = ["position", "id"]
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return self.name


class SlaMetric(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    NEXT_RESPONSE = "next_response", "Next response"
    RESOLUTION = "resolution", "Resolution"


class SlaBreach(models.Model):
    """A target missed: recorded once per conversation, metric and due moment."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="sla_breaches"
    )
    policy = models.ForeignKey(SlaPolicy, on_delete=models.SET_NULL, null=True, blank=True)
    metric = models.CharField(max_length=16, choices=SlaMetric.choices)
    due_at = models.DateTimeField()
    breached_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "metric", "due_at"], name="sla_breach_once"
            ),
        ]
        indexes = [models.Index(fields=["breached_at"], name="sla_breach_at_idx")]

    def __str__(self) -> str:
        return f"{self.metric} of {self.conversation_id} due {self.due_at:%Y-%m-%d %H:%M}"


class Rule(models.Model):
    """An automation: when a conversation meets the conditions, the actions run once for it
    per situation (see ``RuleRun``). Evaluated by the worker's sweep, never by another rule."""

    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    #: ``{"status": [...], "kind": [...], "channel": [...], "segment": [...],
    #: "tags_all": [...], "tags_none": [...], "unassigned": true,
    #: "hours_since_created": 24, "hours_since_update": 4, "hours_since_status_change": 96}``
    conditions = models.JSONField(default=dict)
    #: ``[{"action": "add_tag", "value": "vip"}, {"action": "set_status", "value": "closed"},
    #: {"action": "assign_team", "value": 3}, {"action": "notify", "value": "lead"}, ...]``
    actions = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name"], name="rule_name_unique")]
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def describe(self) -> dict[str, Any]:
        return {"conditions": self.conditions, "actions": self.actions}


class RuleRun(models.Model):
    """One firing of a rule on a conversation. ``state`` names the situation it fired in:
    ``"<seq>|<status>"`` of the latest status change a person made (not a rule or a timer),
    or ``"0|filed"``. A rule fires once per situation, and no rule's change begins one, so a
    rule cannot fire again on its own change, nor can two rules feed each other in a loop."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="rule_runs", db_index=False
    )
    state = models.CharField(max_length=100)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "rule", "state"], name="rule_run_once"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.conversation_id}"


class ConfigGeneration(models.Model):
    """One row whose ``value`` changes (by a random step) with every write to the tables the
    write path keeps a per-process copy of: SLA policies, business hours and webhook
    subscriptions (``sla.config``). Database triggers (migration ``sla.0003``) change it, so
    an edit in the admin, a queryset ``update()``, raw SQL or another process is seen by every
    process at its next read of this row. A random step rather than ``+ 1``: a change rolled
    back in one process and another committed elsewhere never leave the same value."""

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.value)

"""The API's request and response shapes. They check shape only; the services do the work.

Every text field refuses NUL and lone surrogates (no database stores them); enumerations are
the domain's own choices; unknown fields are refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
)

from sellerdesk.accounts.models import MerchantStatus
from sellerdesk.api.models import WebhookEvent
from sellerdesk.conversations.models import (
    AuthorType,
    Channel,
    InitiatedBy,
    Kind,
    Outcome,
    Priority,
    Status,
)
from sellerdesk.core.text import text_problem


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(f"the text {problem}")
    return value


#: Text a database can store.
Text = Annotated[StrictStr, AfterValidator(_storable)]


def _not_null(schema: dict[str, Any]) -> None:
    """The document's side of ``Omittable``: the field's own type, without null."""
    options = schema.pop("anyOf", None)
    schema.pop("default", None)
    if options is not None:
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            schema.update(kept[0])
        else:
            schema["anyOf"] = kept


def Omittable(**kwargs: Any) -> Any:
    """A field that may be left out (None then) but never sent as null."""
    return Field(default=None, json_schema_extra=_not_null, **kwargs)


class In(Schema):
    """A request body: unknown fields are a mistake, not something to ignore."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _omittable_not_null(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if value is None and field is not None and field.json_schema_extra is _not_null:
            raise ValueError("leave the field out rather than send null")
        return value


# --- Problems --------------------------------------------------------------------------------


class FieldProblem(Schema):
    detail: str
    pointer: str | None = Field(default=None, description="JSON pointer into the body")
    parameter: str | None = Field(default=None, description="query or path parameter")
    header: str | None = None


class ProblemOut(Schema):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


# --- Merchants and their users ---------------------------------------------------------------


class MerchantIn(In):
    country: Text = Field(
        min_length=2, max_length=2, description="ISO 3166-1 alpha-2 code, e.g. TR"
    )
    name: Text = Field(default="", max_length=500)
    status: MerchantStatus = MerchantStatus.ACTIVE
    language: Text = Field(default="", max_length=35, description="e.g. tr, zh-Hans")


class MerchantOut(Schema):
    id: str = Field(description="the marketplace's id of the merchant")
    name: str
    country: str
    status: MerchantStatus
    language: str
    created_at: datetime


class MerchantRef(Schema):
    id: str
    name: str
    country: str


class UserIn(In):
    email: Text = Field(max_length=254)
    full_name: Text = Field(default="", max_length=200)


class UserOut(Schema):
    id: int
    email: str
    full_name: str
    active: bool
    #: Until the person follows the invitation and chooses a password.
    password_set: bool
    created_at: datetime


class UserList(Schema):
    items: list[UserOut]


# --- Conversations ---------------------------------------------------------------------------


class ConversationIn(In):
    merchant_id: Text | None = Omittable(
        max_length=200,
        description="the merchant it is filed for; a merchant's key may leave it out",
    )
    kind: Kind = Kind.QUESTION
    subject: Text = Field(default="", max_length=1000)
    body: Text = Field(min_length=1, description="the merchant's first message")
    channel: Channel = Channel.API
    order_ref: Text = Field(default="", max_length=100)
    product_ref: Text = Field(default="", max_length=100)
    invoice_ref: Text = Field(default="", max_length=100)
    author_name: Text = Field(
        default="", max_length=500, description="who wrote it at the merchant, for the thread"
    )
    tags: list[Annotated[Text, Field(max_length=200)]] = Field(
        default_factory=list, max_length=50, description="not with a merchant's key"
    )
    actor_email: Text | None = Omittable(
        max_length=254,
        description="the staff member the tags are added by (default: the system)",
    )


class Counts(Schema):
    messages: int = Field(description="public messages")
    notes: int | None = Field(description="internal notes; null for a merchant's key")
    attachments: int


class ConversationOut(Schema):
    id: int
    external_id: str
    merchant: MerchantRef
    country: str = Field(description="the merchant's country when it was filed")
    channel: Channel
    kind: Kind
    initiated_by: InitiatedBy
    subject: str
    status: Status
    priority: Priority
    outcome: Outcome | None
    spam: bool
    assignee: str | None = Field(description="the agent's e-mail; null for a merchant's key")
    team: str | None = Field(description="null for a merchant's key")
    order_ref: str
    product_ref: str
    invoice_ref: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    merchant_due_at: datetime | None = Field(
        description="when support waits on the merchant: the answer is due by then"
    )


class ConversationDetail(ConversationOut):
    counts: Counts


class ConversationPage(Schema):
    items: list[ConversationOut]
    next: str | None = Field(description="the next page's URL; null on the last page")


class SearchHit(Schema):
    conversation: ConversationOut
    matched: Literal["subject", "message"] = Field(
        description="subject: the subject holds the query (ranked first); message: a message "
        "does (public messages only for a merchant's key)"
    )
    snippet: str = Field(
        description="HTML: the passage that matched, escaped, each hit in <mark>…</mark>"
    )


class SearchPage(Schema):
    items: list[SearchHit]
    next: str | None = Field(description="the next page's URL; null on the last page")


class ConversationPatch(In):
    """Only the fields sent change; each change goes through the desk's own workflow and
    leaves the same trail."""

    status: Status | None = Omittable()
    kind: Kind | None = Omittable()
    priority: Priority | None = Omittable()
    outcome: Outcome | None = Field(default=None, description="null: undecided")
    assignee_email: Text | None = Field(
        default=None, max_length=254, description="an agent's e-mail; null: unassigned"
    )
    tags: list[Annotated[Text, Field(max_length=200)]] | None = Omittable(
        max_length=50, description="the whole set of tags"
    )
    actor_email: Text | None = Omittable(
        max_length=254,
        description="the staff member making the change (default: the system; "
        "an outcome needs a person)",
    )


# --- Messages --------------------------------------------------------------------------------


class MessageIn(In):
    body: Text = Field(min_length=1)
    public: StrictBool = Field(
        default=True, description="false: an internal note (not with a merchant's key)"
    )
    author_email: Text | None = Omittable(
        max_length=254,
        description="the staff member who writes (needed with a key of no merchant)",
    )
    author_name: Text = Field(
        default="", max_length=500, description="with a merchant's key: who wrote it there"
    )
    status: Status | None = Omittable(
        description="then set this status (staff only), as in the desk"
    )


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int


class MessageOut(Schema):
    id: int
    author_type: AuthorType
    author_name: str
    public: bool
    body: str
    created_at: datetime
    attachments: list[AttachmentOut]


class MessageList(Schema):
    items: list[MessageOut]


# --- Tags ------------------------------------------------------------------------------------


class TagOut(Schema):
    name: str = Field(description="normalized")
    display_name: str


class TagList(Schema):
    items: list[TagOut]


# --- Reports ---------------------------------------------------------------------------------


class ReportIn(In):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Text = Field(
        alias="from", max_length=40, description="inclusive: a date or an RFC 3339 timestamp"
    )
    to: Text = Field(max_length=40, description="exclusive: a date or an RFC 3339 timestamp")
    as_of: Text | None = Omittable(max_length=40, description="default: now")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="docs/report.md's configuration as JSON: timezone, top, "
        "segment (a list of {name, countries}), topic (a list of {name, any})",
    )
    business_hours: Text | None = Omittable(
        min_length=1,
        max_length=100,
        description="measure first response and resolution in business hours: 'team' (each "
        "team's calendar) or a business calendar's name; left out: calendar time",
    )


class Timing(Schema):
    mean: float | None
    median: float | None


class TagCount(Schema):
    tag: str
    conversations: int


class PairCount(Schema):
    tags: list[str]
    conversations: int


class TopicCount(Schema):
    name: str
    conversations: int


class Complaints(Schema):
    count: int
    outcomes: dict[str, int]
    resolution_seconds: Timing


class SegmentOut(Schema):
    name: str
    conversations: int
    by_kind: dict[str, int]
    responded: int
    first_response_seconds: Timing
    resolved: int
    resolution_seconds: Timing
    tags: list[TagCount]
    tag_pairs: list[PairCount]
    topics: list[TopicCount]
    complaints: Complaints


class Period(Schema):
    start: str
    end: str


class ReportOut(Schema):
    """docs/report.md's JSON, ``sellerdesk.report/v1``."""

    model_config = ConfigDict(populate_by_name=True)

    schema_: str = Field(alias="schema")
    period: Period
    as_of: str
    business_hours: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="the calendar durations were measured in; absent: calendar time",
    )
    segments: list[SegmentOut]


# --- Webhooks --------------------------------------------------------------------------------


class WebhookIn(In):
    url: Text = Field(min_length=1, max_length=2000, description="https (http only to localhost)")
    events: list[WebhookEvent] = Field(min_length=1, max_length=10)
    merchant_id: Text | None = Omittable(
        max_length=200, description="only this merchant's events; left out: every merchant's"
    )


class WebhookOut(Schema):
    id: int
    url: str
    events: list[str]
    active: bool
    merchant_id: str | None
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="signs every delivery; shown this once")


class WebhookList(Schema):
    items: list[WebhookOut]


class WebhookReplayIn(In):
    delivery_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Omittable(
        max_length=100, description="the deliveries to send again"
    )
    since: Text | None = Omittable(
        max_length=40, description="RFC 3339: every delivery created since"
    )


class WebhookReplayed(Schema):
    requeued: int


class DeliveryOut(Schema):
    id: int
    key: str = Field(description="the Webhook-Id header")
    status: str
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


class DeliveryList(Schema):
    items: list[DeliveryOut]

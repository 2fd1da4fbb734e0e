"""Triage's reads: what the worker has to do, a conversation's suggestions, the lead's
overview, and topic discovery (clusters of untagged conversations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.http import Http404
from django.utils import timezone

from sellerdesk.accounts.models import Team
from sellerdesk.conversations.models import (
    Conversation,
    ConversationTag,
    InitiatedBy,
    Kind,
    Tag,
)
from sellerdesk.conversations.selectors import segment_countries
from sellerdesk.core.text import parse_id
from sellerdesk.triage import classifier, engine
from sellerdesk.triage.embedding import embedder_name
from sellerdesk.triage.models import Embedding, Field, Run, State, Suggestion, TagSetting


def _pending() -> Any:
    since = timezone.now() - timedelta(hours=settings.SELLERDESK_TRIAGE_LOOKBACK_HOURS)
    return Conversation.objects.filter(
        created_at__gte=since, initiated_by=InitiatedBy.MERCHANT, spam=False
    ).filter(~Exists(Run.objects.filter(conversation=OuterRef("pk"))))


def pending_ids(*, limit: int = 50) -> list[int]:
    return list(_pending().order_by("created_at", "id").values_list("pk", flat=True)[:limit])


def has_pending() -> bool:
    """The scheduler's check: a model and something for it to do."""
    return engine.active_model() is not None and _pending().exists()


@dataclass
class Shown:
    suggestion: Suggestion
    label: str

    @property
    def percent(self) -> int:
        return round(self.suggestion.confidence * 100)


def suggestions_for(*, conversation: Conversation) -> list[Shown]:
    """The open suggestions (and automatic ones, which can still be undone), labelled.
    Callers have checked that the person may see the conversation."""
    rows = list(
        Suggestion.objects.filter(
            conversation_id=conversation.pk, state__in=[State.PENDING, State.AUTO]
        ).order_by("field", "-confidence", "id")
    )
    tag_names = dict(
        Tag.objects.filter(name__in=[s.value for s in rows if s.field == Field.TAG]).values_list(
            "name", "display_name"
        )
    )
    team_ids = [parse_id(s.value) for s in rows if s.field == Field.TEAM]
    teams = dict(Team.objects.filter(pk__in=[t for t in team_ids if t]).values_list("pk", "name"))
    kinds = dict(Kind.choices)
    out = []
    for s in rows:
        if s.field == Field.TAG:
            label = tag_names.get(s.value, s.value)
        elif s.field == Field.KIND:
            label = str(kinds.get(s.value, s.value))
        else:
            label = teams.get(parse_id(s.value) or 0, "?")
        out.append(Shown(suggestion=s, label=label))
    return out


def suggestion_get(*, conversation: Conversation, pk: int | str) -> Suggestion:
    key = parse_id(pk)
    row = (
        Suggestion.objects.filter(conversation_id=conversation.pk, pk=key).first()
        if key is not None
        else None
    )
    if row is None:
        raise Http404("no such suggestion")
    return row


def overview() -> dict[str, Any]:
    """The lead's page: the model in use, and each learnt tag with its calibrated suggestion
    threshold, held-out figures, decisions so far and auto-apply setting."""
    model = engine.active_model()
    settings_by_tag = dict(
        TagSetting.objects.filter(auto_apply_at__isnull=False).values_list(
            "tag__name", "auto_apply_at"
        )
    )
    decisions: dict[tuple[str, str], int] = {}
    for value, state in Suggestion.objects.filter(field=Field.TAG).values_list("value", "state"):
        decisions[(value, state)] = decisions.get((value, state), 0) + 1
    tags = []
    if model is not None:
        figures = model.metrics.get("eval", {}).get("tags", {})
        names = dict(Tag.objects.filter(name__in=list(figures)).values_list("name", "display_name"))
        for name, fig in sorted(figures.items()):
            tags.append(
                {
                    "name": name,
                    "display": names.get(name, name),
                    "threshold": model.thresholds.get("tag", {}).get(name),
                    "figures": fig,
                    "accepted": decisions.get((name, State.ACCEPTED), 0),
                    "rejected": decisions.get((name, State.REJECTED), 0),
                    "auto": decisions.get((name, State.AUTO), 0),
                    "auto_apply_at": settings_by_tag.get(name),
                }
            )
    return {"model": model, "tags": tags}


# --- Topic discovery ------------------------------------------------------------------------


@dataclass
class Cluster:
    size: int
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Discovery:
    considered: int
    embedded: int
    clusters: list[Cluster]


def _untagged(start: datetime, end: datetime, segment: str) -> Any:
    rows = Conversation.objects.filter(
        created_at__gte=start,
        created_at__lt=end,
        initiated_by=InitiatedBy.MERCHANT,
        spam=False,
    )
    if segment:
        rows = rows.filter(country__in=segment_countries(segment))
    real_tag = ConversationTag.objects.filter(conversation=OuterRef("pk")).filter(
        ~Q(tag__name__in=engine.catchall_tags())
    )
    return rows.filter(~Exists(real_tag))


def untagged_ids(
    *, start: datetime, end: datetime, segment: str = "", limit: int = 5000
) -> list[int]:
    """The period's merchant-filed conversations with no tag but catch-all ones, newest first."""
    rows = _untagged(start, end, segment).order_by("-created_at", "-id")
    return list(rows.values_list("pk", flat=True)[:limit])


def discover(
    *,
    start: datetime,
    end: datetime,
    segment: str = "",
    clusters: int = 8,
    examples: int = 3,
    limit: int = 5000,
) -> Discovery:
    """Cluster the period's merchant-filed conversations that carry no tag, or only catch-all
    tags, by their stored embeddings (the worker's; ``sellerdesk triage discover`` embeds the
    rest). Largest cluster first, each with the conversations nearest its centre."""
    ids = untagged_ids(start=start, end=end, segment=segment, limit=limit)
    vectors = dict(
        Embedding.objects.filter(conversation_id__in=ids, embedder=embedder_name()).values_list(
            "conversation_id", "vector"
        )
    )
    have = [pk for pk in ids if pk in vectors]
    if not have:
        return Discovery(considered=len(ids), embedded=0, clusters=[])
    X = np.stack([np.frombuffer(bytes(vectors[pk]), dtype=np.float32) for pk in have])
    model = engine.active_model()
    if model is not None and len(X[0]) == model.dim:
        X = engine.loaded(model).centering.transform(X)
    k = max(1, min(clusters, len(have) // 3 or 1))
    assign = classifier.kmeans(X, k)
    chosen: list[tuple[int, list[int]]] = []
    for j in range(k):
        members = np.flatnonzero(assign == j)
        if not len(members):
            continue
        centre = X[members].mean(axis=0)
        nearest = members[np.argsort(-(X[members] @ centre))][:examples]
        chosen.append((len(members), [have[i] for i in nearest]))
    # Only the examples' texts are read: a few messages, not the whole period's.
    shown = [pk for _, pks in chosen for pk in pks]
    by_pk = {c.pk: c for c in Conversation.objects.filter(pk__in=shown).select_related("merchant")}
    texts = {r.pk: r.text for r in engine.rows_for(by_pk.values())}
    found = [
        Cluster(
            size=size,
            examples=[{"conversation": by_pk[pk], "text": texts.get(pk, "")[:300]} for pk in pks],
        )
        for size, pks in chosen
    ]
    found.sort(key=lambda c: -c.size)
    return Discovery(considered=len(ids), embedded=len(have), clusters=found)

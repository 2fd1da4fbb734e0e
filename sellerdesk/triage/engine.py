"""Training, evaluation and prediction over the desk's own history.

A conversation's text is its subject and first merchant message. Its labels: its tags (not the
catch-all ones), its kind, its team. The held-out split is fixed by the conversation's id
(one in five), so ``train`` and ``eval`` agree on it without storing it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef

from sellerdesk.conversations.models import (
    AuthorType,
    Conversation,
    ConversationTag,
    InitiatedBy,
    Kind,
    Message,
)
from sellerdesk.core.text import normalize_tag
from sellerdesk.triage import classifier
from sellerdesk.triage.embedding import get_embedder
from sellerdesk.triage.models import Embedding, State, Suggestion, TriageModel

TEXT_LIMIT = 2000
#: At least this many tagged examples before a tag is learnt.
MIN_EXAMPLES = 5
#: Threshold grid for calibration.
GRID = [round(0.05 * i, 2) for i in range(4, 20)]

Progress = Callable[[int], object]


def catchall_tags() -> set[str]:
    return {normalize_tag(t) for t in settings.SELLERDESK_TRIAGE_CATCHALL_TAGS}


def conversation_text(subject: str, body: str) -> str:
    return f"{subject.strip()}\n{body.strip()}".strip()[:TEXT_LIMIT]


def language_group(language: str) -> str:
    """The merchant's language, primary subtag only ("de-AT" → "de"); "und" when unknown."""
    return (language or "").split("-")[0].split("_")[0].strip().lower()[:8] or "und"


def held_out(pk: int) -> bool:
    return int(hashlib.sha256(str(pk).encode()).hexdigest()[:8], 16) % 5 == 0


@dataclass
class Row:
    pk: int
    text: str
    language: str
    kind: str
    team: str | None
    tags: list[str]
    weight: float = 1.0


def _first_bodies(pks: Sequence[int]) -> dict[int, str]:
    bodies: dict[int, str] = {}
    for start in range(0, len(pks), 500):
        rows = (
            Message.objects.filter(
                conversation_id__in=pks[start : start + 500], author_type=AuthorType.MERCHANT
            )
            .order_by("conversation_id", "created_at", "id")
            .values_list("conversation_id", "body")
        )
        for cid, body in rows:
            bodies.setdefault(cid, body[:TEXT_LIMIT])
    return bodies


def rows_for(conversations: Iterable[Conversation]) -> list[Row]:
    """Rows for these conversations (each with ``merchant`` loaded), tags included."""
    items = list(conversations)
    pks = [c.pk for c in items]
    bodies = _first_bodies(pks)
    tags: dict[int, list[str]] = {}
    for start in range(0, len(pks), 500):
        for cid, name in ConversationTag.objects.filter(
            conversation_id__in=pks[start : start + 500]
        ).values_list("conversation_id", "tag__name"):
            tags.setdefault(cid, []).append(name)
    return [
        Row(
            pk=c.pk,
            text=conversation_text(c.subject, bodies.get(c.pk, "")),
            language=language_group(c.merchant.language),
            kind=c.kind,
            team=str(c.team_id) if c.team_id else None,
            tags=sorted(tags.get(c.pk, [])),
        )
        for c in items
    ]


def history(limit: int | None = None) -> list[Row]:
    """The newest merchant-filed conversations with a message, up to the training limit."""
    limit = limit or settings.SELLERDESK_TRIAGE_TRAIN_LIMIT
    rows = (
        Conversation.objects.filter(initiated_by=InitiatedBy.MERCHANT, spam=False)
        .filter(Exists(Message.objects.filter(conversation=OuterRef("pk"))))
        .select_related("merchant")
        .order_by("-created_at", "-id")[:limit]
    )
    out = [r for r in rows_for(rows) if r.text]
    decided = set(
        Suggestion.objects.filter(
            conversation_id__in=[r.pk for r in out],
            state__in=[State.ACCEPTED, State.REJECTED],
        ).values_list("conversation_id", flat=True)
    )
    for r in out:
        # An agent's accept or reject is a checked label: it counts double.
        if r.pk in decided:
            r.weight = 2.0
    return out


def _digest(text: str, embedder: str) -> str:
    return hashlib.sha256(f"{embedder}\n{text}".encode()).hexdigest()[:32]


def embed_rows(
    rows: Sequence[Row], *, progress: Progress | None = None, batch: int = 32
) -> np.ndarray:
    """The rows' vectors: cached ones read, missing or stale ones embedded and stored."""
    embedder = get_embedder()
    digests = [_digest(r.text, embedder.name) for r in rows]
    cached: dict[int, tuple[str, bytes]] = {}
    pks = [r.pk for r in rows]
    for start in range(0, len(pks), 500):
        for cid, digest, vector in Embedding.objects.filter(
            conversation_id__in=pks[start : start + 500], embedder=embedder.name
        ).values_list("conversation_id", "digest", "vector"):
            cached[cid] = (digest, bytes(vector))
    out = np.zeros((len(rows), embedder.dim), dtype=np.float32)
    missing = []
    for i, (row, digest) in enumerate(zip(rows, digests, strict=True)):
        hit = cached.get(row.pk)
        if hit is not None and hit[0] == digest:
            out[i] = np.frombuffer(hit[1], dtype=np.float32)
        else:
            missing.append(i)
    for start in range(0, len(missing), batch):
        part = missing[start : start + batch]
        vectors = embedder.embed([rows[i].text for i in part])
        for i, vector in zip(part, vectors, strict=True):
            out[i] = vector
        store_embeddings(
            [(rows[i].pk, digests[i], vectors[j]) for j, i in enumerate(part)], embedder.name
        )
        if progress is not None:
            progress(len(part))
    return out


def store_embeddings(items: Sequence[tuple[int, str, np.ndarray]], embedder: str) -> None:
    with transaction.atomic():
        Embedding.objects.filter(conversation_id__in=[pk for pk, _, _ in items]).delete()
        Embedding.objects.bulk_create(
            [
                Embedding(
                    conversation_id=pk,
                    embedder=embedder,
                    digest=digest,
                    vector=np.asarray(v, dtype=np.float32).tobytes(),
                )
                for pk, digest, v in items
            ]
        )


# --- Training -------------------------------------------------------------------------------


@dataclass
class Heads:
    tags: classifier.LinearHead
    kind: classifier.LinearHead
    team: classifier.LinearHead
    centering: classifier.Centering
    thresholds: dict[str, Any] = field(default_factory=dict)


def _centering(rows: Sequence[Row], X: np.ndarray) -> classifier.Centering:
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r.language, []).append(i)
    return classifier.Centering.fit({lang: X[idx] for lang, idx in groups.items()})


def fit_heads(
    rows: Sequence[Row],
    X: np.ndarray,
    *,
    init: Heads | None = None,
    progress: Progress | None = None,
) -> Heads:
    """Fit the three heads on these rows (``X``: their raw embeddings). Each head reads the
    centred embedding and the text's character n-grams (``classifier.CharNgrams``, their
    weights learnt from these rows' texts)."""
    centering = _centering(rows, X)
    Z = centering.transform(X)
    ngrams = classifier.CharNgrams.fit([r.text for r in rows])
    S = ngrams.transform([r.text for r in rows])
    weight = np.array([r.weight for r in rows], dtype=np.float32)
    epochs = 120 if init is not None else 300
    skip = catchall_tags()
    counts = Counter(t for r in rows for t in r.tags if t not in skip)
    tag_labels = sorted(t for t, n in counts.items() if n >= MIN_EXAMPLES)
    tags = (
        classifier.fit(
            Z,
            classifier.multi_hot([r.tags for r in rows], tag_labels),
            tag_labels,
            multilabel=True,
            l2=1e-3,
            epochs=epochs,
            sample_weight=weight,
            ngrams=ngrams,
            S=S,
            init=init.tags if init else None,
            progress=progress,
        )
        if tag_labels
        else classifier.LinearHead.empty([], Z.shape[1], multilabel=True)
    )
    kind_labels = sorted({r.kind for r in rows} | set(Kind.values))
    kind = classifier.fit(
        Z,
        classifier.one_hot([r.kind for r in rows], kind_labels),
        kind_labels,
        multilabel=False,
        l2=1e-3,
        epochs=epochs,
        sample_weight=weight,
        ngrams=ngrams,
        S=S,
        init=init.kind if init else None,
        progress=progress,
    )
    # A team is learnt from MIN_EXAMPLES conversations, like a tag.
    team_counts = Counter(r.team for r in rows if r.team)
    team_labels = sorted(t for t, n in team_counts.items() if n >= MIN_EXAMPLES)
    teamed = [i for i, r in enumerate(rows) if r.team in team_labels]
    team = (
        classifier.fit(
            Z[teamed],
            classifier.one_hot([rows[i].team or "" for i in teamed], team_labels),
            team_labels,
            multilabel=False,
            l2=1e-3,
            epochs=epochs,
            sample_weight=weight[teamed],
            ngrams=ngrams,
            S=S.take(teamed),
            init=init.team if init else None,
            progress=progress,
        )
        if len(team_labels) >= 2
        else classifier.LinearHead.empty(team_labels, Z.shape[1], multilabel=False)
    )
    return Heads(tags=tags, kind=kind, team=team, centering=centering)


# --- Evaluation and calibration -------------------------------------------------------------


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def calibration_half(pk: int) -> int:
    """Which half of the held-out rows a conversation is in (0 or 1, fixed by its id, apart
    from ``held_out``'s hash): each half's figures are read at thresholds chosen on the
    other half."""
    return int(hashlib.sha256(f"half\n{pk}".encode()).hexdigest()[:8], 16) % 2


def tag_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The confidence with the best F1 for one tag (``p`` its probabilities, ``y`` 0/1);
    ties go to the higher, more precise threshold, and so does a tag with no example."""
    best = (-1.0, 0.5)
    for t in GRID:
        pred = p >= t
        tp = int((pred & (y == 1)).sum())
        fp = int((pred & (y == 0)).sum())
        fn = int((~pred & (y == 1)).sum())
        f = _prf(tp, fp, fn)[2]
        if f >= best[0]:
            best = (f, t)
    return best[1]


def confident_threshold(conf: np.ndarray, right: np.ndarray, target: float) -> float:
    """The lowest confidence (never under an even chance: a guess under 0.5 is not a
    suggestion) from which the guesses are right at least ``target`` of the time."""
    for t in (t for t in GRID if t >= 0.5):
        above = conf >= t
        if above.any() and right[above].mean() >= target:
            return t
    return GRID[-1]


def _halves(rows: Sequence[Row]) -> list[np.ndarray]:
    half = np.array([calibration_half(r.pk) for r in rows], dtype=int)
    return [half == 0, half == 1]


def evaluate(heads: Heads, rows: Sequence[Row], X: np.ndarray) -> dict[str, Any]:
    """Calibrate the heads on these rows and say how they do. ``rows`` must be rows the heads
    were not fitted on (the held-out fifth).

    The thresholds (set in ``heads.thresholds``): each tag's the confidence with the best F1
    on these rows; the kind's and team's the confidence above which they reach the
    configured precision. The figures are not read on the rows a threshold was chosen on,
    which would flatter them: the rows are split in two halves by id, and each half is
    scored at thresholds chosen on the other (cross-fitting); per tag precision, recall and
    F1 and their macro averages, the kind's and team's accuracy, precision and coverage."""
    Z = heads.centering.transform(X) if len(rows) else X
    texts = [r.text for r in rows]
    halves = _halves(rows)
    report: dict[str, Any] = {
        "rows": len(rows),
        "tags": {},
        "kind": {},
        "team": {},
        "figures": "each half of these rows at thresholds chosen on the other half",
    }
    thresholds: dict[str, Any] = {"tag": {}, "kind": 0.5, "team": 0.5}
    if heads.tags.labels and len(rows):
        P = heads.tags.proba(Z, texts)
        Y = classifier.multi_hot([r.tags for r in rows], heads.tags.labels)
        for j, name in enumerate(heads.tags.labels):
            p, y = P[:, j], Y[:, j]
            support = int(y.sum())
            # A tag absent from the held-out rows keeps a cautious default.
            thresholds["tag"][name] = tag_threshold(p, y) if support else 0.7
            tp = fp = fn = 0
            for scored, other in (halves, halves[::-1]):
                t = tag_threshold(p[other], y[other])
                pred = p[scored] >= t
                tp += int((pred & (y[scored] == 1)).sum())
                fp += int((pred & (y[scored] == 0)).sum())
                fn += int((~pred & (y[scored] == 1)).sum())
            pr, rc, f = _prf(tp, fp, fn)
            report["tags"][name] = {
                "precision": round(pr, 3),
                "recall": round(rc, 3),
                "f1": round(f, 3),
                "threshold": thresholds["tag"][name],
                "support": support,
            }
        scored_tags = [v for v in report["tags"].values() if v["support"]]
        for key in ("precision", "recall", "f1"):
            report[f"macro_{key}"] = (
                round(sum(v[key] for v in scored_tags) / len(scored_tags), 3)
                if scored_tags
                else None
            )
    target = settings.SELLERDESK_TRIAGE_MIN_PRECISION
    for name, head, truth in (
        ("kind", heads.kind, [r.kind for r in rows]),
        ("team", heads.team, [r.team for r in rows]),
    ):
        keep = [i for i, v in enumerate(truth) if v]
        if len(head.labels) < 2 or not keep:
            thresholds[name] = 1.01 if len(head.labels) < 2 else 0.5
            continue
        P = head.proba(Z[keep], [texts[i] for i in keep])
        conf = P.max(axis=1)
        right = np.array(
            [head.labels[k] == truth[i] for k, i in zip(P.argmax(axis=1), keep, strict=True)]
        )
        thresholds[name] = confident_threshold(conf, right, target)
        above = np.zeros(len(keep), dtype=bool)
        for scored, other in (halves, halves[::-1]):
            s, o = scored[keep], other[keep]
            above[s] = conf[s] >= confident_threshold(conf[o], right[o], target)
        report[name] = {
            "accuracy": round(float(right.mean()), 3),
            "threshold": thresholds[name],
            "precision_above": round(float(right[above].mean()), 3) if above.any() else None,
            "coverage_above": round(float(above.mean()), 3),
        }
    heads.thresholds = thresholds
    return report


# --- Stored models --------------------------------------------------------------------------


def save(
    heads: Heads, *, embedder: str, dim: int, metrics: dict[str, Any], trained_on: int
) -> TriageModel:
    with transaction.atomic():
        TriageModel.objects.filter(active=True).update(active=False)
        return TriageModel.objects.create(
            embedder=embedder,
            dim=dim,
            tags_head=heads.tags.to_bytes(),
            kind_head=heads.kind.to_bytes(),
            team_head=heads.team.to_bytes(),
            centering=heads.centering.to_bytes(),
            thresholds=heads.thresholds,
            metrics=metrics,
            trained_on=trained_on,
        )


def heads_of(row: TriageModel) -> Heads:
    return Heads(
        tags=classifier.LinearHead.from_bytes(bytes(row.tags_head)),
        kind=classifier.LinearHead.from_bytes(bytes(row.kind_head)),
        team=classifier.LinearHead.from_bytes(bytes(row.team_head)),
        centering=classifier.Centering.from_bytes(bytes(row.centering)),
        thresholds=row.thresholds,
    )


def active_model() -> TriageModel | None:
    return TriageModel.objects.filter(active=True).first()


_loaded: dict[int, Heads] = {}
_loaded_lock = threading.Lock()


def loaded(row: TriageModel) -> Heads:
    """The heads of a stored model, deserialised once per process."""
    with _loaded_lock:
        if row.pk not in _loaded:
            _loaded.clear()
            _loaded[row.pk] = heads_of(row)
        return _loaded[row.pk]


@dataclass
class Guess:
    field: str
    value: str
    confidence: float


def predict(heads: Heads, X: np.ndarray, texts: Sequence[str]) -> list[list[Guess]]:
    """Above-threshold guesses for each row of raw embeddings (``texts``: the rows' texts,
    for the heads' n-grams). Below every threshold there is no guess at all: "none of these"
    is an answer."""
    Z = heads.centering.transform(X)
    out: list[list[Guess]] = [[] for _ in range(len(Z))]
    tag_t: dict[str, float] = heads.thresholds.get("tag", {})
    if heads.tags.labels:
        P = heads.tags.proba(Z, texts)
        for i in range(len(Z)):
            for j, name in enumerate(heads.tags.labels):
                if P[i, j] >= tag_t.get(name, 0.7):
                    out[i].append(Guess("tag", name, float(P[i, j])))
    for name, head in (("kind", heads.kind), ("team", heads.team)):
        if len(head.labels) < 2:
            continue
        P = head.proba(Z, texts)
        floor = float(heads.thresholds.get(name, 0.5))
        for i in range(len(Z)):
            k = int(P[i].argmax())
            if P[i, k] >= floor:
                out[i].append(Guess(name, head.labels[k], float(P[i, k])))
    return out

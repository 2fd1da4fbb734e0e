"""Linear classifiers on embeddings, numpy only.

``SoftmaxHead``: one label out of many (a conversation's kind, its team; an intent in the
benchmarks). ``SigmoidHead``: any number of labels, one-vs-rest (tags). Both are trained by
full-batch gradient descent with Nesterov momentum on an L2-regularised log loss, can start
from an earlier model's weights (incremental training), and serialise to one ``.npz`` blob.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Progress = Callable[[int], object]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


@dataclass
class LinearHead:
    """``labels`` name the output columns; ``W`` is (dim, labels), ``b`` (labels,).

    With ``ngrams`` the head also reads each text's character n-grams: ``V`` is
    (ngrams.dim, labels), and the logits are ``scale·x·W + ngram_scale·s·V + b``.
    """

    labels: list[str]
    W: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    multilabel: bool = False
    #: Inputs are scaled by this before the dot product (embeddings are unit vectors, so the
    #: logits need room to be confident).
    scale: float = 1.0
    ngrams: CharNgrams | None = field(default=None, repr=False)
    V: np.ndarray | None = field(default=None, repr=False)
    ngram_scale: float = 1.0

    @classmethod
    def empty(cls, labels: Sequence[str], dim: int, *, multilabel: bool) -> LinearHead:
        return cls(
            labels=list(labels),
            W=np.zeros((dim, len(labels)), dtype=np.float32),
            b=np.zeros(len(labels), dtype=np.float32),
            multilabel=multilabel,
        )

    def features(self, texts: Sequence[str] | None) -> Sparse | None:
        """The n-gram rows this head reads for these texts (None: a head without them)."""
        if self.ngrams is None:
            return None
        if texts is None:
            raise ValueError("this head reads the texts as well as their embeddings")
        return self.ngrams.transform(texts)

    def logits(
        self, X: np.ndarray, texts: Sequence[str] | None = None, *, S: Sparse | None = None
    ) -> np.ndarray:
        out: np.ndarray = (X * self.scale) @ self.W + self.b
        if self.V is not None:
            S = S if S is not None else self.features(texts)
            assert S is not None
            out += S.dot(self.V) * self.ngram_scale
        return out

    def proba(
        self, X: np.ndarray, texts: Sequence[str] | None = None, *, S: Sparse | None = None
    ) -> np.ndarray:
        z = self.logits(np.atleast_2d(X).astype(np.float32, copy=False), texts, S=S)
        return _sigmoid(z) if self.multilabel else _softmax(z)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        extra: dict[str, Any] = {}
        if self.ngrams is not None and self.V is not None:
            extra = {
                "V": self.V,
                "idf": self.ngrams.idf,
                "n": np.array([self.ngrams.n_min, self.ngrams.n_max], dtype=np.int64),
            }
        np.savez(
            buf,
            W=self.W,
            b=self.b,
            labels=np.array(self.labels, dtype=object),
            meta=np.array([float(self.multilabel), self.scale, self.ngram_scale], dtype=np.float64),
            **extra,
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> LinearHead:
        with np.load(io.BytesIO(blob), allow_pickle=True) as data:
            meta = data["meta"]
            ngrams, V = None, None
            if "V" in data.files:
                n = data["n"]
                ngrams = CharNgrams(
                    idf=data["idf"].astype(np.float32), n_min=int(n[0]), n_max=int(n[1])
                )
                V = data["V"].astype(np.float32)
            return cls(
                labels=[str(x) for x in data["labels"]],
                W=data["W"].astype(np.float32),
                b=data["b"].astype(np.float32),
                multilabel=bool(meta[0]),
                scale=float(meta[1]),
                ngrams=ngrams,
                V=V,
                ngram_scale=float(meta[2]) if len(meta) > 2 else 1.0,
            )


def fit(
    X: np.ndarray,
    Y: np.ndarray,
    labels: Sequence[str],
    *,
    multilabel: bool,
    l2: float = 1e-4,
    epochs: int = 300,
    lr: float = 0.5,
    scale: float = 8.0,
    sample_weight: np.ndarray | None = None,
    class_weight: dict[str, float] | None = None,
    ngrams: CharNgrams | None = None,
    S: Sparse | None = None,
    ngram_scale: float = 8.0,
    init: LinearHead | None = None,
    progress: Progress | None = None,
) -> LinearHead:
    """Fit a head. ``Y`` is (n, labels) of 0/1 (one-hot for a softmax head).

    ``ngrams`` and ``S`` (``ngrams.transform`` of the rows' texts): the head reads character
    n-grams beside the embedding. ``class_weight``: a label's rows count this many times
    (e.g. an explicit "none of these" class with few examples).
    ``init``: an earlier head whose weights start the descent where they match by label
    (new labels start at zero), so retraining after a few new conversations converges in a
    fraction of the epochs.
    """
    X = np.asarray(X, dtype=np.float32) * scale
    Y = np.asarray(Y, dtype=np.float32)
    n, dim = X.shape
    k = len(labels)
    w = np.ones(n, dtype=np.float32) if sample_weight is None else sample_weight.astype(np.float32)
    if class_weight:
        per_label = np.array([class_weight.get(name, 1.0) for name in labels], dtype=np.float32)
        w = w * np.where(Y.sum(axis=1) > 0, (Y * per_label).max(axis=1), 1.0)
    w = w / w.sum()
    W = np.zeros((dim, k), dtype=np.float32)
    b = np.zeros(k, dtype=np.float32)
    sparse = ngrams is not None and S is not None
    # Training reads every row every epoch: a dense block and BLAS beat gathering the sparse
    # rows (prediction, a row at a time, stays sparse).
    D = S.dense() * ngram_scale if sparse and S is not None else np.zeros((n, 0), np.float32)
    V = np.zeros((ngrams.dim if ngrams is not None else 0, k), dtype=np.float32)
    if init is not None and init.W.shape[0] == dim:
        old = {name: i for i, name in enumerate(init.labels)}
        same_ngrams = (
            sparse
            and init.V is not None
            and init.ngrams is not None
            and init.V.shape[0] == V.shape[0]
        )
        for j, name in enumerate(labels):
            if name in old:
                W[:, j] = init.W[:, old[name]]
                b[j] = init.b[old[name]]
                if same_ngrams and init.V is not None:
                    V[:, j] = init.V[:, old[name]]
    elif multilabel:
        prior = np.clip((Y * w[:, None]).sum(axis=0), 1e-4, 1 - 1e-4)
        b = np.log(prior / (1 - prior)).astype(np.float32)
    vW, vb, vV = np.zeros_like(W), np.zeros_like(b), np.zeros_like(V)
    momentum = 0.9
    for epoch in range(epochs):
        # Nesterov: the gradient at the look-ahead point.
        Wl, bl = W + momentum * vW, b + momentum * vb
        z = X @ Wl + bl
        if sparse:
            Vl = V + momentum * vV
            z += D @ Vl
        P = _sigmoid(z) if multilabel else _softmax(z)
        G = (P - Y) * w[:, None]
        gW = X.T @ G + l2 * Wl
        gb = G.sum(axis=0)
        vW = momentum * vW - lr * gW
        vb = momentum * vb - lr * gb
        W += vW
        b += vb
        if sparse:
            gV = D.T @ G + l2 * Vl
            vV = momentum * vV - lr * gV
            V += vV
        if progress is not None:
            progress(epoch)
    return LinearHead(
        labels=list(labels),
        W=W,
        b=b,
        multilabel=multilabel,
        scale=scale,
        ngrams=ngrams if sparse else None,
        V=V if sparse else None,
        ngram_scale=ngram_scale,
    )


def with_none(head: LinearHead, P: np.ndarray, floor: float, none: str) -> np.ndarray:
    """Each row's label, or ``none`` where the head says so or its best probability is under
    ``floor``: "none of these" is an answer."""
    out = np.array(head.labels, dtype=object)[P.argmax(axis=1)]
    out[P.max(axis=1) < floor] = none
    return out


#: Confidence floors tried by ``none_floor``: 0, 0.02, ..., 0.98.
FLOOR_GRID = tuple(round(0.02 * i, 2) for i in range(50))


@dataclass
class NoneFloor:
    """A confidence floor chosen on validation rows, and what it gave there."""

    floor: float
    none_recall: float
    accuracy: float  # on the rows that are not "none"
    reached: bool


def none_floor(
    head: LinearHead,
    P: np.ndarray,
    truth: Sequence[str],
    *,
    none: str,
    min_recall: float,
    grid: Sequence[float] = FLOOR_GRID,
) -> NoneFloor:
    """The lowest floor (so the least lost elsewhere) at which the rows whose truth is
    ``none`` come out as ``none`` at least ``min_recall`` of the time, with ``P`` the head's
    probabilities for validation rows, never the test's. When no floor reaches it: the floor
    with the best mean of that recall and the accuracy on the other rows."""
    truth_a = np.array(truth, dtype=object)
    is_none = truth_a == none
    best: NoneFloor | None = None
    for floor in grid:
        predicted = with_none(head, P, floor, none)
        recall = float((predicted[is_none] == none).mean()) if is_none.any() else 1.0
        accuracy = (
            float((predicted[~is_none] == truth_a[~is_none]).mean()) if (~is_none).any() else 1.0
        )
        if recall >= min_recall:
            return NoneFloor(floor, recall, accuracy, True)
        if best is None or recall + accuracy > best.none_recall + best.accuracy:
            best = NoneFloor(floor, recall, accuracy, False)
    assert best is not None
    return best


def kmeans(X: np.ndarray, k: int, *, iterations: int = 25, seed: int = 7) -> np.ndarray:
    """k-means++ on unit vectors (cosine), deterministic for a seed; returns assignments."""
    rng = np.random.default_rng(seed)
    centers = [X[rng.integers(len(X))]]
    for _ in range(1, k):
        d = 1.0 - np.max(X @ np.stack(centers).T, axis=1)
        d = np.clip(d, 0, None) ** 2
        total = d.sum()
        centers.append(X[rng.choice(len(X), p=d / total)] if total > 0 else X[rng.integers(len(X))])
    C = np.stack(centers)
    assign = np.zeros(len(X), dtype=int)
    for _ in range(iterations):
        new = (X @ C.T).argmax(axis=1)
        if _ > 0 and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = X[assign == j]
            if len(members):
                c = members.mean(axis=0)
                C[j] = c / (np.linalg.norm(c) or 1.0)
    return assign


def one_hot(values: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    Y = np.zeros((len(values), len(labels)), dtype=np.float32)
    for row, value in enumerate(values):
        Y[row, index[value]] = 1.0
    return Y


def multi_hot(values: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(labels)}
    Y = np.zeros((len(values), len(labels)), dtype=np.float32)
    for row, names in enumerate(values):
        for name in names:
            if name in index:
                Y[row, index[name]] = 1.0
    return Y


@dataclass
class Centering:
    """Per-language mean removal: each vector loses the centroid nearest to it (by cosine)
    and is normalised again. Multilingual embeddings carry a language offset that a linear
    head trained on one language mistakes for signal; without it a head trained on English
    reads German, Turkish, Chinese and Japanese alike. Centroids come from unlabelled text
    (the desk's messages grouped by merchant language), so any language seen there is known.
    """

    names: list[str]
    centroids: np.ndarray = field(repr=False)  # (groups, dim)

    @classmethod
    def fit(cls, groups: dict[str, np.ndarray]) -> Centering:
        names = sorted(name for name, X in groups.items() if len(X))
        return cls(names=names, centroids=np.stack([groups[n].mean(axis=0) for n in names]))

    def nearest(self, X: np.ndarray) -> np.ndarray:
        unit = self.centroids / np.linalg.norm(self.centroids, axis=1, keepdims=True)
        out: np.ndarray = (np.atleast_2d(X) @ unit.T).argmax(axis=1)
        return out

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(X).astype(np.float32, copy=False)
        if not self.names:
            return X
        Z = X - self.centroids[self.nearest(X)]
        norms = np.linalg.norm(Z, axis=1, keepdims=True)
        out: np.ndarray = Z / np.where(norms == 0, 1.0, norms)
        return out.astype(np.float32)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, names=np.array(self.names, dtype=object), centroids=self.centroids)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Centering:
        with np.load(io.BytesIO(blob), allow_pickle=True) as data:
            return cls(
                names=[str(x) for x in data["names"]],
                centroids=data["centroids"].astype(np.float32),
            )


# --- Character n-grams ----------------------------------------------------------------------

_SPACE = re.compile(r"\s+")
#: Rows gathered at once by the sparse products (bounds their temporary memory).
_CHUNK_NNZ = 1 << 18


@dataclass
class Sparse:
    """Rows of a sparse matrix (CSR) and the two products a linear head needs, in numpy."""

    data: np.ndarray  # (nnz,) float32
    indices: np.ndarray  # (nnz,) int64 column of each value
    indptr: np.ndarray  # (rows + 1,) int64
    dim: int

    @property
    def rows(self) -> int:
        return len(self.indptr) - 1

    def take(self, rows: Sequence[int] | np.ndarray) -> Sparse:
        rows = np.asarray(rows, dtype=np.int64)
        lengths = np.diff(self.indptr)[rows]
        picks = (
            np.concatenate([np.arange(self.indptr[r], self.indptr[r + 1]) for r in rows])
            if len(rows)
            else np.zeros(0, dtype=np.int64)
        )
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return Sparse(self.data[picks], self.indices[picks], indptr, self.dim)

    def dense(self) -> np.ndarray:
        out = np.zeros((self.rows, self.dim), dtype=np.float32)
        rows = np.repeat(np.arange(self.rows), np.diff(self.indptr))
        np.add.at(out, (rows, self.indices), self.data)
        return out

    def dot(self, W: np.ndarray) -> np.ndarray:
        """``self @ W``: (rows, W's columns)."""
        out = np.zeros((self.rows, W.shape[1]), dtype=np.float32)
        lengths = np.diff(self.indptr)
        r0 = 0
        while r0 < self.rows:
            r1 = int(np.searchsorted(self.indptr, self.indptr[r0] + _CHUNK_NNZ, side="right"))
            r1 = min(max(r1 - 1, r0 + 1), self.rows)
            a, b = int(self.indptr[r0]), int(self.indptr[r1])
            full = np.flatnonzero(lengths[r0:r1]) + r0
            if len(full):
                prod = W[self.indices[a:b]] * self.data[a:b, None]
                out[full] = np.add.reduceat(prod, self.indptr[full] - a, axis=0)
            r0 = r1
        return out


@dataclass
class CharNgrams:
    """Each word's character n-grams (``n_min``..``n_max``, the word padded by a space on each
    side), hashed into ``dim`` buckets (CRC-32: the same in every process), weighted by
    1 + log(count) times the bucket's IDF on the training texts, rows L2-normalised. Spelling
    the embedding does not see (card names, "top up" against "top-up", typos) is here; it is
    a few hundred hashes per message at prediction time."""

    idf: np.ndarray = field(repr=False)  # (dim,) float32
    n_min: int = 2
    n_max: int = 4

    @property
    def dim(self) -> int:
        return len(self.idf)

    def buckets(self, text: str) -> np.ndarray:
        words = _SPACE.sub(" ", text.casefold()).strip().split(" ")
        out = []
        dim = self.dim
        for word in words:
            if not word:
                continue
            padded = f" {word} "
            for n in range(self.n_min, self.n_max + 1):
                for i in range(len(padded) - n + 1):
                    out.append(zlib.crc32(padded[i : i + n].encode()) % dim)
        return np.array(out, dtype=np.int64)

    @classmethod
    def fit(
        cls, texts: Sequence[str], *, dim: int = 1 << 12, n_min: int = 2, n_max: int = 4
    ) -> CharNgrams:
        shape = cls(idf=np.ones(dim, dtype=np.float32), n_min=n_min, n_max=n_max)
        df = np.zeros(dim, dtype=np.float64)
        for text in texts:
            df[np.unique(shape.buckets(text))] += 1
        idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        return cls(idf=idf.astype(np.float32), n_min=n_min, n_max=n_max)

    def transform(self, texts: Sequence[str]) -> Sparse:
        data, indices, indptr = [], [], [0]
        for text in texts:
            cols, counts = np.unique(self.buckets(text), return_counts=True)
            values = (1.0 + np.log(counts)) * self.idf[cols]
            norm = float(np.linalg.norm(values))
            data.append(values / (norm or 1.0))
            indices.append(cols)
            indptr.append(indptr[-1] + len(cols))
        return Sparse(
            np.concatenate(data).astype(np.float32) if data else np.zeros(0, np.float32),
            np.concatenate(indices).astype(np.int64) if indices else np.zeros(0, np.int64),
            np.array(indptr, dtype=np.int64),
            self.dim,
        )

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, idf=self.idf, n=np.array([self.n_min, self.n_max], dtype=np.int64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> CharNgrams:
        with np.load(io.BytesIO(blob)) as data:
            n = data["n"]
            return cls(idf=data["idf"].astype(np.float32), n_min=int(n[0]), n_max=int(n[1]))

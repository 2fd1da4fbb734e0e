"""Linear classifiers on embeddings, numpy only.

``SoftmaxHead``: one label out of many (a conversation's kind, its team; an intent in the
benchmarks). ``SigmoidHead``: any number of labels, one-vs-rest (tags). Both are trained by
full-batch gradient descent with Nesterov momentum on an L2-regularised log loss, can start
from an earlier model's weights (incremental training), and serialise to one ``.npz`` blob.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
    """``labels`` name the output columns; ``W`` is (dim, labels), ``b`` (labels,)."""

    labels: list[str]
    W: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    multilabel: bool = False
    #: Inputs are scaled by this before the dot product (embeddings are unit vectors, so the
    #: logits need room to be confident).
    scale: float = 1.0

    @classmethod
    def empty(cls, labels: Sequence[str], dim: int, *, multilabel: bool) -> LinearHead:
        return cls(
            labels=list(labels),
            W=np.zeros((dim, len(labels)), dtype=np.float32),
            b=np.zeros(len(labels), dtype=np.float32),
            multilabel=multilabel,
        )

    def logits(self, X: np.ndarray) -> np.ndarray:
        out: np.ndarray = (X * self.scale) @ self.W + self.b
        return out

    def proba(self, X: np.ndarray) -> np.ndarray:
        z = self.logits(np.atleast_2d(X).astype(np.float32, copy=False))
        return _sigmoid(z) if self.multilabel else _softmax(z)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            W=self.W,
            b=self.b,
            labels=np.array(self.labels, dtype=object),
            meta=np.array([float(self.multilabel), self.scale], dtype=np.float64),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> LinearHead:
        with np.load(io.BytesIO(blob), allow_pickle=True) as data:
            meta = data["meta"]
            return cls(
                labels=[str(x) for x in data["labels"]],
                W=data["W"].astype(np.float32),
                b=data["b"].astype(np.float32),
                multilabel=bool(meta[0]),
                scale=float(meta[1]),
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
    init: LinearHead | None = None,
    progress: Progress | None = None,
) -> LinearHead:
    """Fit a head. ``Y`` is (n, labels) of 0/1 (one-hot for a softmax head).

    ``init``: an earlier head whose weights start the descent where they match by label
    (new labels start at zero), so retraining after a few new conversations converges in a
    fraction of the epochs.
    """
    X = np.asarray(X, dtype=np.float32) * scale
    Y = np.asarray(Y, dtype=np.float32)
    n, dim = X.shape
    k = len(labels)
    w = np.ones(n, dtype=np.float32) if sample_weight is None else sample_weight.astype(np.float32)
    w = w / w.sum()
    W = np.zeros((dim, k), dtype=np.float32)
    b = np.zeros(k, dtype=np.float32)
    if init is not None and init.W.shape[0] == dim:
        old = {name: i for i, name in enumerate(init.labels)}
        for j, name in enumerate(labels):
            if name in old:
                W[:, j] = init.W[:, old[name]]
                b[j] = init.b[old[name]]
    elif multilabel:
        prior = np.clip((Y * w[:, None]).sum(axis=0), 1e-4, 1 - 1e-4)
        b = np.log(prior / (1 - prior)).astype(np.float32)
    vW, vb = np.zeros_like(W), np.zeros_like(b)
    momentum = 0.9
    for epoch in range(epochs):
        # Nesterov: the gradient at the look-ahead point.
        Wl, bl = W + momentum * vW, b + momentum * vb
        z = X @ Wl + bl
        P = _sigmoid(z) if multilabel else _softmax(z)
        G = (P - Y) * w[:, None]
        gW = X.T @ G + l2 * Wl
        gb = G.sum(axis=0)
        vW = momentum * vW - lr * gW
        vb = momentum * vb - lr * gb
        W += vW
        b += vb
        if progress is not None:
            progress(epoch)
    return LinearHead(labels=list(labels), W=W, b=b, multilabel=multilabel, scale=scale)


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

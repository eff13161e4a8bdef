"""The learned crisis layer: a logistic-regression head on the sentence embedding.

The rules of :mod:`voicecoach.crisis` catch what their patterns and cue classes foresee; a statement
said in new words ("I keep hoping the plane goes down") slips past them. This layer reads the
sentence vector the semantic layer already computes (all-MiniLM-L6-v2, 384 numbers, see
:mod:`voicecoach.embed`) and the ``views`` of the same encoder pass the model names (an earlier
layer's mean, word-level maxima: 384 numbers each), concatenated with one indicator per cue class
of the crisis screen found in the utterance, and gives a probability ``p`` that it is a crisis
statement:

- ``p >= high``: ``crisis``;
- ``low <= p < high``: ``crisis_check`` (the coach asks directly and kindly);
- below ``low``: nothing (the rules and the intent matcher decide).

It reads utterances of at least MIN_WORDS words, and not answers to a question (those are read in
the context of the question, :mod:`voicecoach.answers`).

The weights, the two thresholds and a digest of the training sentences live in
``voicecoach/data/crisis_model.json``, written by ``scripts/train_crisis_model.py`` (numpy only, no
torch, deterministic). Without the ``semantic`` extra there is no sentence vector and the layer is
skipped: the rules alone screen. It only ever adds a flag; it never clears one the rules raised.

This module imports neither :mod:`voicecoach.crisis` nor :mod:`voicecoach.intents` (the screen is
passed in), so it adds no import cycle.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voicecoach.errors import LocatedError

MODEL_FILE = "crisis_model.json"
FORMAT = 2
MIN_WORDS = 4
"""Shorter utterances (after fillers are dropped) are left to the rules: too few words to read."""


class CrisisModelError(LocatedError):
    """A crisis model file that cannot be used (names the file and the key)."""


class _Screen(Protocol):
    def cue_classes(self, text: str) -> set[str]: ...


@dataclass(frozen=True)
class CrisisModel:
    """A trained head: ``p = sigmoid(w . [vector, views, cue indicators] + b)``. ``views`` names
    the encoder's pooled views read beside the sentence vector (``embed.VIEW``: an earlier layer's
    mean, a word-level maximum), ``dim`` numbers each."""

    weights: np.ndarray
    bias: float
    cue_classes: tuple[str, ...]
    high: float
    low: float
    dim: int = 384
    data_digest: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    views: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        """Numbers of the encoder's read per utterance: the sentence vector and the views."""
        return self.dim * (1 + len(self.views))

    # -- loading and saving -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, file: str = "<crisis model>") -> CrisisModel:
        def fail(msg: str) -> CrisisModelError:
            return CrisisModelError(msg, file)

        if not isinstance(data, dict):
            raise fail("a crisis model file is a JSON object")
        if data.get("format") != FORMAT:
            raise fail(f"format must be {FORMAT}")
        try:
            dim = int(data["dim"])
            cues = tuple(str(c) for c in data["cue_classes"])
            views = tuple(str(v) for v in data["views"])
            weights = np.asarray(data["weights"], dtype=np.float64)
            bias = float(data["bias"])
            high, low = float(data["high"]), float(data["low"])
        except KeyError as exc:
            raise fail(f"missing key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise fail(f"a value has the wrong type ({exc})") from None
        from voicecoach.embed import VIEW  # loads no model; not imported with the matcher

        bad = [v for v in views if not VIEW.fullmatch(v)]
        if bad:
            raise fail(f"views: {bad[0]!r} is not one of mean1..mean6, max1..max6")
        width = dim * (1 + len(views)) + len(cues)
        if weights.shape != (width,):
            raise fail(f"weights must hold dim x (1 + len(views)) + len(cue_classes) = {width} numbers")
        if not np.all(np.isfinite(weights)) or not math.isfinite(bias):
            raise fail("weights and bias must be finite numbers")
        if not 0.0 < low <= high <= 1.0:
            raise fail("thresholds must satisfy 0 < low <= high <= 1")
        return cls(weights, bias, cues, high, low, dim, str(data.get("data_digest", "")),
                   dict(data.get("info") or {}), views)

    @classmethod
    def from_file(cls, path: Path) -> CrisisModel:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CrisisModelError(f"cannot read: {exc.strerror or exc}", str(path)) from None
        except json.JSONDecodeError as exc:
            raise CrisisModelError(f"not JSON: {exc.msg}", str(path), exc.lineno) from None
        return cls.from_dict(data, str(path))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "dim": self.dim,
            "views": list(self.views),
            "cue_classes": list(self.cue_classes),
            "bias": round(self.bias, 6),
            "weights": [round(float(w), 6) for w in self.weights],
            "high": round(self.high, 4),
            "low": round(self.low, 4),
            "data_digest": self.data_digest,
            "info": self.info,
        }

    # -- scoring ------------------------------------------------------------------------------

    def features(self, vector: np.ndarray, cues: set[str]) -> np.ndarray:
        """One feature row: the sentence vector and its views (``width`` numbers, as
        ``Encoder.encode(texts, views=self.views)`` gives them), then 1.0 for each cue class
        found."""
        ind = np.array([1.0 if c in cues else 0.0 for c in self.cue_classes])
        return np.concatenate([np.asarray(vector, dtype=np.float64).reshape(-1), ind])

    def probability(self, vector: np.ndarray, cues: set[str]) -> float:
        return float(_sigmoid(np.array([self.features(vector, cues) @ self.weights + self.bias]))[0])

    def decide(self, p: float) -> str | None:
        """"crisis", "crisis_check" or None for a probability."""
        if p >= self.high:
            return "crisis"
        if p >= self.low:
            return "crisis_check"
        return None

    def assess(self, screen: _Screen, text: str, vector: np.ndarray) -> tuple[str | None, float]:
        """The decision and the probability for one utterance, given its sentence vector and
        views."""
        p = self.probability(vector, screen.cue_classes(text))
        return self.decide(p), p


@lru_cache(maxsize=1)
def default_model() -> CrisisModel:
    """The packaged model (loaded once); a broken file raises :class:`CrisisModelError`."""
    from voicecoach.config import data_path

    return CrisisModel.from_file(data_path(MODEL_FILE))


# -- training (used by scripts/train_crisis_model.py and the tests) ---------------------------


def data_digest(texts: list[str], labels: list[int]) -> str:
    """A sha256 of the training sentences and their labels, in order."""
    h = hashlib.sha256()
    for t, y in zip(texts, labels, strict=True):
        h.update(f"{int(y)}\t{t}\n".encode())
    return h.hexdigest()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method, classes weighted to balance
    (deterministic: no random start, no sampling). Returns (weights, bias)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = x.shape
    pos = max(1.0, float(y.sum()))
    neg = max(1.0, float(n - y.sum()))
    sw = np.where(y > 0.5, n / (2.0 * pos), n / (2.0 * neg))
    xa = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = _sigmoid(xa @ theta)
        grad = xa.T @ (sw * (p - y)) + reg * theta
        r = sw * p * (1.0 - p)
        hess = (xa * r[:, None]).T @ xa + np.diag(reg) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number (0..k-1) per row, stratified by label, from a seeded shuffle."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(y), dtype=int)
    for label in (0, 1):
        idx = np.flatnonzero(np.asarray(y) == label)
        rng.shuffle(idx)
        out[idx] = np.arange(len(idx)) % k
    return out


def cross_val_scores(x: np.ndarray, y: np.ndarray, l2: float, k: int = 5, repeats: int = 2,
                     seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities, averaged over ``repeats`` different splits."""
    total = np.zeros(len(y))
    for r in range(repeats):
        f = folds(y, k, seed + r)
        for i in range(k):
            test = f == i
            w, b = fit_logistic(x[~test], y[~test], l2)
            total[test] += _sigmoid(x[test] @ w + b)
    return total / repeats

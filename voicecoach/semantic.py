"""The semantic layer: every intent's exemplars, and the crisis screen's, as sentence embeddings
(all-MiniLM-L6-v2 run in numpy, :mod:`voicecoach.embed`). Optional: without the ``semantic`` extra
the matcher uses its templates and keywords only."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class ExemplarSource(Protocol):
    """What the layer is built from (the intent matcher)."""

    intents: dict[str, Any]
    crisis_screen: Any

    def exemplars(self, name: str) -> list[str]: ...


SEMANTIC_PER_INTENT = 40
"""Template expansions per intent among the exemplars (every template represented first)."""
SEMANTIC_TOP_K = 3
"""An intent's similarity is the mean of its top-k exemplar similarities."""

# the normalised spellings back with their apostrophes, as the sentence encoder learnt them
_APOSTROPHES = {
    "im": "i'm", "ive": "i've", "id": "i'd", "cant": "can't", "dont": "don't", "doesnt": "doesn't",
    "didnt": "didn't", "isnt": "isn't", "arent": "aren't", "wont": "won't", "wouldnt": "wouldn't",
    "couldnt": "couldn't", "shouldnt": "shouldn't", "havent": "haven't", "hasnt": "hasn't",
    "wasnt": "wasn't", "werent": "weren't", "lets": "let's", "thats": "that's", "whats": "what's",
    "hes": "he's", "shes": "she's", "theyre": "they're", "youre": "you're", "theres": "there's",
    "youve": "you've", "weve": "we've", "theyve": "they've", "youll": "you'll", "itll": "it'll",
    "uhhuh": "uh huh", "mhm": "mm hmm",
}


def embed_text(clean: str) -> str:
    """The text given to the sentence encoder for a cleaned utterance or exemplar."""
    return " ".join(_APOSTROPHES.get(w, w) for w in clean.split())


class Semantic:
    """Every intent's exemplars (and the crisis screen's exemplars) as sentence embeddings."""

    def __init__(self, encoder: Any, texts: list[str], owner: list[str], vectors: np.ndarray,
                 crisis_vectors: np.ndarray):
        self.encoder = encoder
        self.texts = texts
        self.owner = owner
        self.vectors = vectors
        self.crisis_vectors = crisis_vectors
        self.spans: dict[str, tuple[int, int]] = {}
        for i, name in enumerate(owner):  # exemplars are grouped by intent
            start, _ = self.spans.get(name, (i, i))
            self.spans[name] = (start, i + 1)

    @classmethod
    def build(cls, matcher: ExemplarSource) -> Semantic | None:
        from voicecoach import embed

        if not embed.available():
            return None
        enc = embed.get_encoder()
        if enc is None:
            return None
        texts: list[str] = []
        owner: list[str] = []
        for name in matcher.intents:
            for c in matcher.exemplars(name):
                texts.append(c)
                owner.append(name)
        crisis = list(matcher.crisis_screen.exemplars)
        vecs = enc.cached_encode([embed_text(t) for t in texts + crisis])
        return cls(enc, texts, owner, vecs[: len(texts)], vecs[len(texts):])

    @property
    def dim(self) -> int:
        """Numbers in a sentence vector (views asked of :meth:`encode` follow them)."""
        return int(self.vectors.shape[1])

    def encode(self, clean: str, views: tuple[str, ...] = ()) -> np.ndarray:
        """The sentence vector (``dim`` numbers), followed by ``views`` of the same pass."""
        return self.encoder.encode([embed_text(clean)], views=views)[0]

    def intent_similarities(self, v: np.ndarray) -> dict[str, float]:
        """Each intent's mean cosine similarity with its top-k exemplars."""
        from voicecoach.embed import one_blas_thread

        with one_blas_thread():
            sims = self.vectors @ v
        out = {}
        for name, (a, b) in self.spans.items():
            seg = sims[a:b]
            k = min(SEMANTIC_TOP_K, len(seg))
            out[name] = float(np.partition(seg, len(seg) - k)[len(seg) - k:].mean())
        return out

    def nearest(self, v: np.ndarray, n: int = 5) -> list[tuple[float, str, str]]:
        """The n nearest exemplars (similarity, intent, text), for explaining a decision."""
        sims = self.vectors @ v
        idx = np.argsort(-sims)[:n]
        return [(float(sims[i]), self.owner[i], self.texts[i]) for i in idx]

    def crisis_similarity(self, v: np.ndarray) -> float:
        """The best cosine similarity with a crisis exemplar (0 when there are none)."""
        return float((self.crisis_vectors @ v).max()) if len(self.crisis_vectors) else 0.0

"""How intent scores are combined: template and keyword evidence, the semantic layer's
similarities, confidence, and what counts as a command."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

WISH_ABOUT_SOMETHING = re.compile(
    r"\b(?:want|need|wish|would like|like|make)\s+(?:this|that|the|my|these|those|all this|all of this|all the)"
    r"(?:\s+\w+){1,3}\s+to\s+(?:stop|end|go away|quit|finish|be over)\b")
"""A wish that something else would stop ("I want this feeling to stop", "I need my thoughts to
end"): about a feeling, not a command to the coach ("I want you to stop", "I want to stop")."""


@dataclass
class Scored:
    """One intent's scores for one utterance."""

    name: str
    score: float
    template: float
    keyword: float
    semantic: float = 0.0
    """Similarity by meaning with the intent's exemplars (0 without the semantic layer)."""
    rule: float = 0.0
    """The template and keyword score alone."""


SEM_BASE = 0.25
"""Cosine similarity that counts as no semantic evidence; SEM_BASE + SEM_SPAN counts as certain."""
SEM_SPAN = 0.40
SEM_MARGIN_GAIN = 2.0
"""Confidence added per unit of lead over the next intent's similarity."""
SEM_AGREE = 0.10
"""Confidence added when the template and keyword layer's best guess is the same intent."""
SEM_OVERRIDE = (0.60, 0.20)
"""A confident rule decision without a near-exact template is overturned only by an intent at least
this similar, leading the rule winner's own similarity by at least this much."""
NEAR_EXACT = 0.90
"""A template this similar (rapidfuzz ratio / 100) is strong evidence: the semantic layer is not used."""
CRISIS_CHECK_SIMILARITY = 0.80
"""With no intent matched, an utterance this similar to a crisis exemplar asks directly."""


def _semantic_confidence(sem: float, lead: float, agrees: bool) -> float:
    """0..1 from an intent's similarity, its lead over the best other intent's similarity
    (negative when another is closer) and whether the rule layer's best guess agrees."""
    base = (sem - SEM_BASE) / SEM_SPAN
    conf = base + SEM_MARGIN_GAIN * min(lead, 0.1) + (SEM_AGREE if agrees else 0.0)
    return max(0.0, min(1.0, conf))


def fuse(scored: list[Scored], threshold: float) -> None:
    """Sets ``score`` from the rule scores and the semantic similarities (see docs/intents.md):
    a confident rule decision with a near-exact template stands; a confident rule decision on
    keywords stands unless the semantic layer strongly prefers another intent; otherwise an
    intent's score is the better of its rule score and its semantic confidence."""
    if not scored:
        return
    by_rule = max(scored, key=lambda s: s.rule)
    rule_conf = calibrate(by_rule, scored, key="rule")
    sem_sorted = sorted(scored, key=lambda s: s.semantic, reverse=True)
    top_sem = sem_sorted[0]
    for s in scored:
        s.score = s.rule
    if rule_conf >= threshold and by_rule.template >= NEAR_EXACT:
        return
    if rule_conf >= threshold:
        lo, lead = SEM_OVERRIDE
        if (top_sem is not by_rule and top_sem.semantic >= lo
                and top_sem.semantic - by_rule.semantic >= lead):
            top_sem.score = max(top_sem.rule, min(1.0, by_rule.rule + 0.05),
                                _semantic_confidence(top_sem.semantic, lead, False))
        return
    second = sem_sorted[1].semantic if len(sem_sorted) > 1 else 0.0
    for s in scored:
        lead = s.semantic - (second if s is top_sem else top_sem.semantic)
        s.score = max(s.rule, _semantic_confidence(s.semantic, lead, s is by_rule))


def command_shaped(clean: str, s: Scored) -> bool:
    """True when an utterance is a command for intent score ``s``: short and close to one of the
    intent's templates ("okay you can stop", "slow it down", "I can't hear you, louder"). A longer
    sentence that merely contains a command word ("I can't stop thinking about him", "my breathing
    gets faster when I think about it") is not, and goes to the technique and crisis layers."""
    n = len(clean.split())
    if n == 0 or WISH_ABOUT_SOMETHING.search(clean):
        return False
    if s.template >= NEAR_EXACT and n <= 9:
        return True  # one of its own templates, said whole
    if (s.template >= 0.66 and n <= 4) or (s.template >= 0.6 and n <= 3):
        return True
    if s.keyword > 0:
        return (s.template >= 0.7 and n <= 6) or (s.template >= 0.6 and n <= 3)
    return False


def combine(t: float, k: float, n_words: int) -> float:
    """One 0..1 score from the best template similarity ``t`` and the keyword weight ``k``."""
    tc = min(1.0, max(0.0, (t - 0.6) / 0.4))
    kc = 1.0 - float(np.exp(-max(k, 0.0) / 2.0))
    score = 1.0 - (1.0 - tc) * (1.0 - kc)
    if k < 0:
        score *= 0.4
    return score


def calibrate(chosen: Scored, scored: list[Scored], key: str = "score") -> float:
    """The winner's score, lowered when another intent comes close."""
    others = [getattr(s, key) for s in scored if s.name != chosen.name]
    runner = max(others) if others else 0.0
    conf = getattr(chosen, key)
    margin = conf - runner
    if margin < 0.15:
        conf *= 0.85 + margin
    return max(0.0, min(1.0, conf))

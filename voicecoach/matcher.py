"""What a person asks for: intents matched by templates, keywords and (optionally) meaning, with
the crisis screen first. Loading is in :mod:`voicecoach.intents`; the template syntax in
:mod:`voicecoach.templates`; the schema in docs/intents.md."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from voicecoach import crisis as crisis_mod
from voicecoach import crisis_model
from voicecoach.expansions import cached_expansions
from voicecoach.normalize import normalize
from voicecoach.numbers import parse_minutes, parse_number
from voicecoach.scoring import (
    CRISIS_CHECK_SIMILARITY,
    NEAR_EXACT,
    Scored,
    calibrate,
    combine,
    command_shaped,
    fuse,
)
from voicecoach.semantic import SEMANTIC_PER_INTENT, Semantic
from voicecoach.templates import Alt, Grammar
from voicecoach.types import IntentMatch

GROUPS = ("control", "technique", "state", "answer", "other")
ACTS = ("control", "while_speaking", "barge_in", "in_answer")
"""What an intent may do, declared in intents.yaml (``acts``): ``control`` steers a running
session (the engine's controls); ``while_speaking`` is acted on while the coach speaks;
``barge_in`` cuts the coach as soon as a partial result says it; ``in_answer`` is taken as a
command even while the person answers a question."""


@dataclass
class Keyword:
    pattern: re.Pattern[str]
    weight: float
    source: str


@dataclass
class Template:
    source: str
    tree: Alt
    file: str | None = None
    line: int | None = None


@dataclass
class Intent:
    """One intent of the intents file."""

    name: str
    group: str = "other"
    """control | technique | state | answer | other: decides which intent wins when several fit."""
    script: str | None = None
    """The script this intent starts by default (documentation; scripts declare their intents)."""
    templates: list[Template] = field(default_factory=list)
    keywords: list[Keyword] = field(default_factory=list)
    slots: list[str] = field(default_factory=list)
    """Slots read from the utterance when this intent wins."""
    command_phrases: list[str] = field(default_factory=list)
    """Short phrases for a recogniser's command grammar (lower-case words only)."""
    examples: list[str] = field(default_factory=list)
    """Natural sentences for the semantic layer (compared by meaning, not as templates)."""
    acts: frozenset[str] = frozenset()
    """What the intent may do (:data:`ACTS`)."""
    file: str | None = None
    line: int | None = None


class IntentMatcher:
    """Matches an utterance to an intent; build it with :func:`voicecoach.intents.load_matcher` or
    :func:`voicecoach.intents.matcher_from_dict`."""

    def __init__(self, intents: dict[str, Intent], grammar: Grammar, fillers: list[str],
                 leading_fillers: list[str], threshold: float = 0.55,
                 crisis_screen: crisis_mod.CrisisScreen | None = None):
        self.intents = intents
        self.grammar = grammar
        self.threshold = threshold
        self.crisis_screen = crisis_screen or crisis_mod.default_screen()
        self._fillers = re.compile(
            r"(?<![a-z0-9])(?:" + "|".join(re.escape(f) for f in sorted(fillers, key=len, reverse=True))
            + r")(?![a-z0-9])"
        ) if fillers else None
        self._leading = set(leading_fillers)
        self._choices, self._owner, self._slots = self._expansions()
        self._owner_arr = np.array(self._owner)
        self._index = {name: np.flatnonzero(self._owner_arr == name) for name in intents}
        self._slot_rx: dict[str, list[tuple[re.Pattern[str], str]]] = {}
        for lst in grammar.lists.values():
            pats = []
            for v in lst.values:
                pats.append((re.compile(grammar.regex(v.text)), v.value))
            self._slot_rx[lst.name] = pats
        self.use_semantic = True
        """Set False to match on templates and keywords only (as without the semantic extra)."""
        self.use_crisis_model = True
        """Set False to leave the learned crisis layer out (it needs the semantic layer too)."""
        self._semantic: Semantic | None = None
        self._semantic_tried = False

    def acting(self, act: str) -> frozenset[str]:
        """The intents declared to do ``act`` (see :data:`ACTS`)."""
        return frozenset(name for name, intent in self.intents.items() if act in intent.acts)

    def _expansions(self) -> tuple[list[str], list[str], list[dict[str, str]]]:
        """Every template's (cleaned) expansions with their intent and slots (cached on disk)."""
        return cached_expansions(self.intents, self.grammar, self.clean,
                                 (self._fillers.pattern if self._fillers else "", sorted(self._leading)))

    _raw: Any = None
    """The raw intents this matcher was built from (:mod:`voicecoach.intents` merges over it)."""

    # -- matching --------------------------------------------------------------------------------

    def clean(self, text: str) -> str:
        """Normalised text without filler words ("okay um so basically im wound up" → "im wound up")."""
        norm = normalize(text)
        if not norm:
            return ""
        stripped = self._fillers.sub(" ", norm) if self._fillers else norm
        words = stripped.split()
        while len(words) > 1 and words[0] in self._leading:
            words = words[1:]
        return " ".join(words) if words else norm

    def scores(self, text: str, *, semantic: bool = True) -> list[Scored]:
        """Every intent's score for the text, best first: the template and keyword score
        (``rule``), the similarity by meaning with the intent's exemplars (``semantic``, when the
        semantic layer is installed and ``semantic`` is true) and the two combined (``score``)."""
        return self._scores(text, semantic)[0]

    def _scores(self, text: str, semantic: bool = True) -> tuple[list[Scored], np.ndarray | None]:
        """:meth:`scores` and the utterance's sentence vector followed by the views the learned
        crisis layer reads (None without the semantic layer)."""
        clean = self.clean(text)
        if not clean:
            return [], None
        padded = clean + " "
        sims = process.cdist([clean], self._choices, scorer=fuzz.ratio, dtype=np.uint8, workers=1)[0]
        out = []
        n_words = len(clean.split())
        for name, intent in self.intents.items():
            idx = self._index[name]
            t = float(sims[idx].max()) / 100.0 if len(idx) else 0.0
            k = 0.0
            for kw in intent.keywords:
                if kw.pattern.search(padded):
                    k += kw.weight
            r = combine(t, k, n_words)
            out.append(Scored(name, r, t, k, rule=r))
        sem = self.semantic() if semantic else None
        vec = None
        if sem is not None:
            vec = sem.encode(clean, self._crisis_views())
            by_intent = sem.intent_similarities(vec[: sem.dim])
            for sc in out:
                sc.semantic = by_intent.get(sc.name, 0.0)
            fuse(out, self.threshold)
        out.sort(key=lambda s: s.score, reverse=True)
        return out, vec

    # -- the semantic layer -----------------------------------------------------------------------

    def _crisis_views(self) -> tuple[str, ...]:
        """The encoder's views the learned crisis layer reads, taken in the same pass."""
        return crisis_model.default_model().views if self.use_crisis_model else ()

    def semantic(self) -> Semantic | None:
        """The exemplar embeddings, built on first use; None without the semantic extra (or with
        ``use_semantic`` off), and then the matcher uses templates and keywords only."""
        if not self.use_semantic:
            return None
        if not self._semantic_tried:
            self._semantic_tried = True
            self._semantic = Semantic.build(self)
        return self._semantic

    def warm_up(self) -> bool:
        """Load the sentence encoder and the exemplar embeddings now rather than on the first
        utterance. True when the semantic layer is in use."""
        sem = self.semantic()
        if sem is not None:
            sem.encode("warm up")
        return sem is not None

    def exemplars(self, name: str) -> list[str]:
        """The sentences the semantic layer compares with for an intent: a sample of its template
        expansions (every template represented) and its ``examples``."""
        intent = self.intents[name]
        rng = random.Random(f"exemplars:{name}")
        per_template: list[list[str]] = []
        for t in intent.templates:
            got: list[str] = []
            for _ in range(SEMANTIC_PER_INTENT * 2):
                words, _slots = self.grammar.sample(t.tree, rng)
                c = self.clean(" ".join(w for w in words if w))
                if c and c not in got:
                    got.append(c)
                if len(got) >= SEMANTIC_PER_INTENT:
                    break
            per_template.append(got)
        out: list[str] = []
        seen: set[str] = set()
        depth = 0
        while len(out) < SEMANTIC_PER_INTENT and any(depth < len(g) for g in per_template):
            for g in per_template:  # round robin: every template before a second of any
                if depth < len(g) and g[depth] not in seen and len(out) < SEMANTIC_PER_INTENT:
                    seen.add(g[depth])
                    out.append(g[depth])
            depth += 1
        for ex in intent.examples:
            c = self.clean(ex)
            if c and c not in seen:
                seen.add(c)
                out.append(c)
        return out

    def match(self, text: str, *, in_session: bool = False, expecting_answer: bool = False) -> IntentMatch:
        """The intent of one utterance.

        Order: the crisis screen first, always (a crisis gives name "crisis", crisis=True,
        confidence 1.0; an ambiguous statement gives "crisis_check" with slot ask_directly);
        with ``expecting_answer`` only an utterance that is essentially a command is taken as one
        (else name None, best the guess, and a "number" slot when a number was said);
        with ``in_session`` control intents win; a specific technique beats the general state
        ``anxious``. Below the threshold the name is None and ``best`` holds the guess.
        """
        text = text if isinstance(text, str) else str(text or "")
        screen = self.crisis_screen.screen(text)
        if screen.is_crisis:
            slots: dict[str, object] = {"category": screen.category, "matched": screen.matched}
            return IntentMatch("crisis", 1.0, slots, best="crisis", crisis=True, text=text)
        scored, vec = self._scores(text)
        clean = self.clean(text)
        # Commands are commands: a control intent counts only for an utterance shaped like one.
        scored = [s for s in scored if self.intents[s.name].group != "control" or command_shaped(clean, s)]
        if screen.ask_directly:
            slots = {"ask_directly": True, "category": screen.category, "matched": screen.matched}
            return IntentMatch("crisis_check", 0.9, slots, best="crisis_check", text=text)
        if (vec is not None and self.use_crisis_model and not expecting_answer
                and len(clean.split()) >= crisis_model.MIN_WORDS
                and not (scored and scored[0].template >= NEAR_EXACT)):
            # the learned layer (voicecoach/crisis_model.py): new words for a crisis, whatever
            # intent the sentence resembles; it only adds a flag. An answer is read in the context
            # of its question (voicecoach/answers.py), and an utterance that is nearly a template
            # is that request, so the layer leaves both alone.
            decision, p = crisis_model.default_model().assess(self.crisis_screen, text, vec)
            if decision is not None:
                slots = {"category": "learned", "matched": f"p={p:.2f}"}
                if decision == "crisis":
                    return IntentMatch("crisis", 1.0, slots, best="crisis", crisis=True, text=text)
                slots["ask_directly"] = True
                return IntentMatch("crisis_check", round(p, 3), slots, best="crisis_check", text=text)
        if not scored:
            return IntentMatch(None, 0.0, {}, best=None, text=text)
        if vec is not None and scored[0].score < self.threshold:
            # nothing the rules know, yet close to what people say in a crisis: ask directly
            # (the crisis screen alone decides a crisis)
            sim = self._semantic.crisis_similarity(vec[: self._semantic.dim]) if self._semantic is not None else 0.0
            if sim >= CRISIS_CHECK_SIMILARITY:
                slots = {"ask_directly": True, "category": "semantic", "matched": f"{sim:.2f}"}
                return IntentMatch("crisis_check", round(sim, 3), slots, best="crisis_check", text=text)
        best = scored[0]
        chosen = best
        if expecting_answer:
            cmd = self._command_in_answer(clean, scored)
            if cmd is None:
                slots = self._number_slots(text)
                return IntentMatch(None, round(best.score, 3), slots, best=best.name, text=text)
            chosen = cmd
        elif in_session:
            controls = [s for s in scored if self.intents[s.name].group == "control"]
            if controls and controls[0] is not best:
                ctl = controls[0]
                evidence = ctl.keyword > 0 or ctl.template >= 0.9
                if evidence and ctl.score >= self.threshold and ctl.score >= best.score - 0.35:
                    chosen = ctl
                    scored = [s for s in scored if self.intents[s.name].group == "control"]
        if not expecting_answer and self.intents[chosen.name].group == "state":
            techniques = [s for s in scored if self.intents[s.name].group == "technique"]
            if techniques:
                tech = techniques[0]
                evidence = tech.keyword > 0 or tech.template >= 0.9
                if evidence and tech.score >= self.threshold * 0.9 and tech.score >= chosen.score - 0.35:
                    # a specific request beats the general state it was said in
                    state = chosen.name
                    chosen = tech
                    scored = [s for s in scored if s.name != state]
        conf = calibrate(chosen, scored)
        slots = self._slots_for(chosen.name, text, clean)
        name = chosen.name if conf >= self.threshold else None
        return IntentMatch(name, round(conf, 3), slots, best=chosen.name, text=text)

    def _command_in_answer(self, clean: str, scored: list[Scored]) -> Scored | None:
        words = clean.split()
        if not words or len(words) > 4:
            return None
        for s in scored:
            if "in_answer" in self.intents[s.name].acts and s.template >= 0.86:
                return s
        return None

    def _number_slots(self, text: str) -> dict[str, object]:
        n = parse_number(text, (0, 100))
        return {"number": n} if n is not None else {}

    def _slots_for(self, name: str, text: str, clean: str) -> dict[str, object]:
        slots: dict[str, object] = {}
        padded = normalize(text) + " "
        for slot in self.intents[name].slots:
            if slot == "number":
                n = parse_number(text, (0, 100))
                if n is not None:
                    slots["number"] = n
            elif slot == "minutes":
                mins = parse_minutes(text)
                if mins is not None:
                    slots["minutes"] = mins
            elif slot in self._slot_rx:
                for rx, value in self._slot_rx[slot]:
                    if rx.search(padded):
                        slots[slot] = value
                        break
        return slots

    def command_phrases(self) -> list[str]:
        """The closed phrase set for a recogniser's command grammar: control phrases, yes/no,
        short technique requests, and always the crisis phrases; lower-case words only."""
        out: list[str] = []
        seen: set[str] = set()
        for intent in self.intents.values():
            for p in intent.command_phrases:
                if p not in seen:
                    seen.add(p)
                    out.append(p)
        for p in self.crisis_screen.grammar_phrases:
            if p not in seen:
                seen.add(p)
                out.append(p)
        return out

    def template_sentences(self, name: str) -> list[tuple[str, dict[str, str]]]:
        """The (possibly sampled) expansions of an intent's templates."""
        return [(c, s) for c, o, s in zip(self._choices, self._owner, self._slots, strict=False) if o == name]

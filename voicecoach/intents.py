"""What a person asks for: templates in the manner of hassil, scored with fuzzy and keyword matching.

The packaged ``voicecoach/data/intents.yaml`` is loaded, and the person's ``$home/intents.yaml`` is
merged over it (same intent name: its templates, keywords and command phrases are added; the
other fields replace). The schema is in docs/intents.md.

Template syntax (shared with the crisis screen):

- ``word``: a word; ``breath*`` (keywords and crisis patterns only) matches any word starting so
- ``[optional words]``, ``(alt one|alt two)``, ``(a|)`` is optional too
- ``{list}``: any value of a slot list (its value is recorded for the slot)
- ``<rule>``: an expansion rule from ``expansion_rules``
- ``*`` (keywords and crisis patterns only): up to three words of anything
- ``$`` (keywords and crisis patterns only): the end of the utterance
- ``^`` (keywords and crisis patterns only): the start of the utterance

Every utterance goes through the crisis screen first (:mod:`voicecoach.crisis`).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from voicecoach import crisis as crisis_mod
from voicecoach import crisis_model
from voicecoach.errors import LocatedError
from voicecoach.normalize import CONTRACTIONS, normalize
from voicecoach.numbers import parse_minutes, parse_number
from voicecoach.types import IntentMatch
from voicecoach.yamlio import line_of, read_yaml_file


class IntentsError(LocatedError):
    """A problem in an intents file (names file and line)."""


class TemplateError(LocatedError):
    """A template that does not parse (names file and line)."""


# ---------------------------------------------------------------------------------------------
# templates


@dataclass(frozen=True)
class Word:
    text: str


@dataclass(frozen=True)
class Seq:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Alt:
    options: tuple[Seq, ...]
    optional: bool = False


@dataclass(frozen=True)
class SlotRef:
    name: str


@dataclass(frozen=True)
class RuleRef:
    name: str


@dataclass(frozen=True)
class Wild:
    pass


@dataclass(frozen=True)
class End:
    pass


@dataclass(frozen=True)
class Start:
    pass


_TOKENS = re.compile(r"\s*(\[|\]|\(|\)|\||\{[^}]*\}|<[^>]*>|\*|\$|\^|[^\s\[\]()|{}<>*$^]+\*?)")


def parse_template(text: str, file: str | None = None, line: int | None = None) -> Alt:
    """Parse a template into a tree; a syntax error raises TemplateError naming file and line."""
    if not isinstance(text, str) or not text.strip():
        raise TemplateError("a template must be non-empty text", file, line)
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKENS.match(text, pos)
        if not m:
            raise TemplateError(f"cannot read template {text!r} at {pos}", file, line)
        tokens.append(m.group(1))
        pos = m.end()
    i = 0

    def fail(msg: str):
        raise TemplateError(f"{msg} in template {text!r}", file, line)

    def parse_alt(closer: str | None) -> tuple[Seq, ...]:
        nonlocal i
        options = [parse_seq()]
        while i < len(tokens) and tokens[i] == "|":
            i += 1
            options.append(parse_seq())
        if closer is None:
            if i < len(tokens):
                fail(f"unexpected {tokens[i]!r}")
        else:
            if i >= len(tokens) or tokens[i] != closer:
                fail(f"missing {closer!r}")
            i += 1
        return tuple(options)

    def parse_seq() -> Seq:
        nonlocal i
        items: list[Any] = []
        while i < len(tokens) and tokens[i] not in ("|", ")", "]"):
            tok = tokens[i]
            i += 1
            if tok == "(":
                items.append(Alt(parse_alt(")")))
            elif tok == "[":
                items.append(Alt(parse_alt("]"), optional=True))
            elif tok.startswith("{"):
                name = tok[1:-1].strip()
                if not name:
                    fail("empty {}")
                items.append(SlotRef(name))
            elif tok.startswith("<"):
                name = tok[1:-1].strip()
                if not name:
                    fail("empty <>")
                items.append(RuleRef(name))
            elif tok == "*":
                items.append(Wild())
            elif tok == "$":
                items.append(End())
            elif tok == "^":
                items.append(Start())
            else:
                word = tok.replace("'", "").replace("\u2019", "").lower()
                for part in word.split("-"):
                    if not re.fullmatch(r"[a-z0-9]+\*?", part):
                        fail(f"bad word {tok!r}")
                    items.append(Word(part))
        return Seq(tuple(items))

    return Alt(parse_alt(None))


@dataclass
class SlotValue:
    """One value of a slot list: what may be said (a template) and the value recorded."""

    text: Alt
    value: str
    source: str


@dataclass
class SlotList:
    name: str
    values: list[SlotValue]


class Grammar:
    """Slot lists and expansion rules that templates refer to."""

    def __init__(self, lists: dict[str, SlotList] | None = None, rules: dict[str, Alt] | None = None):
        self.lists = lists or {}
        self.rules = rules or {}

    # -- expansion into sentences ------------------------------------------------------------

    def count(self, node: Any, depth: int = 0) -> int:
        if depth > 30:
            raise TemplateError("expansion rules refer to each other in a loop")
        if isinstance(node, Word):
            return 1
        if isinstance(node, (Wild, End, Start)):
            return 1
        if isinstance(node, Seq):
            n = 1
            for item in node.items:
                n *= self.count(item, depth + 1)
            return n
        if isinstance(node, Alt):
            return sum(self.count(o, depth + 1) for o in node.options) + (1 if node.optional else 0)
        if isinstance(node, SlotRef):
            return sum(self.count(v.text, depth + 1) for v in self._list(node.name).values)
        if isinstance(node, RuleRef):
            return self.count(self._rule(node.name), depth + 1)
        raise TypeError(node)

    def expand(self, node: Any) -> list[tuple[str, dict[str, str]]]:
        """Every sentence of a template with the slot values it names."""
        out = []
        for words, slots in self._expand(node):
            out.append((" ".join(w for w in words if w), slots))
        return out

    def _expand(self, node: Any) -> list[tuple[list[str], dict[str, str]]]:
        if isinstance(node, Word):
            return [([node.text.rstrip("*")], {})]
        if isinstance(node, (Wild, End, Start)):
            return [([], {})]
        if isinstance(node, Seq):
            acc: list[tuple[list[str], dict[str, str]]] = [([], {})]
            for item in node.items:
                parts = self._expand(item)
                acc = [(w1 + w2, {**s1, **s2}) for w1, s1 in acc for w2, s2 in parts]
            return acc
        if isinstance(node, Alt):
            out = []
            for o in node.options:
                out.extend(self._expand(o))
            if node.optional:
                out.append(([], {}))
            return out
        if isinstance(node, SlotRef):
            out = []
            for v in self._list(node.name).values:
                for words, slots in self._expand(v.text):
                    out.append((words, {**slots, node.name: v.value}))
            return out
        if isinstance(node, RuleRef):
            return self._expand(self._rule(node.name))
        raise TypeError(node)

    def sample(self, node: Any, rng: random.Random) -> tuple[list[str], dict[str, str]]:
        """One random sentence of a template."""
        if isinstance(node, Word):
            return [node.text.rstrip("*")], {}
        if isinstance(node, (Wild, End, Start)):
            return [], {}
        if isinstance(node, Seq):
            words: list[str] = []
            slots: dict[str, str] = {}
            for item in node.items:
                w, s = self.sample(item, rng)
                words += w
                slots.update(s)
            return words, slots
        if isinstance(node, Alt):
            choices: list[Any] = list(node.options) + ([None] if node.optional else [])
            pick = rng.choice(choices)
            return ([], {}) if pick is None else self.sample(pick, rng)
        if isinstance(node, SlotRef):
            v = rng.choice(self._list(node.name).values)
            w, s = self.sample(v.text, rng)
            return w, {**s, node.name: v.value}
        if isinstance(node, RuleRef):
            return self.sample(self._rule(node.name), rng)
        raise TypeError(node)

    def sentences(self, node: Any, limit: int = 400, seed: int = 0) -> list[tuple[str, dict[str, str]]]:
        """All expansions when there are at most ``limit``, else a fixed random sample of them."""
        if self.count(node) <= limit:
            return self.expand(node)
        rng = random.Random(seed)
        seen: dict[str, dict[str, str]] = {}
        for _ in range(limit * 3):
            words, slots = self.sample(node, rng)
            seen.setdefault(" ".join(w for w in words if w), slots)
            if len(seen) >= limit:
                break
        return list(seen.items())

    # -- regular expressions ------------------------------------------------------------------

    def regex(self, node: Any, gap: str = "", soft: frozenset[str] = frozenset()) -> str:
        """A regular expression for a template over normalised text padded with one trailing
        space. ``gap`` is an expression for words that may sit between any two words; ``soft``
        words may be missing (a recogniser drops small words)."""
        sep = r"\s+" + (f"(?:(?:{gap})\\s+)*" if gap else "")
        self._soft = soft
        return r"(?<![a-z0-9])" + self._rx(node, sep, 0)

    _soft: frozenset[str] = frozenset()

    def _is_soft(self, item: Any) -> bool:
        """A small word, or a choice among small words only ("(i|im)")."""
        if isinstance(item, Word):
            return item.text in self._soft
        if isinstance(item, Alt) and not item.optional:
            return all(len(o.items) == 1 and isinstance(o.items[0], Word)
                       and o.items[0].text in self._soft for o in item.options)
        return False

    def _rx(self, node: Any, sep: str, depth: int) -> str:
        if depth > 40:
            raise TemplateError("expansion rules refer to each other in a loop")
        if isinstance(node, Word):
            w = node.text
            body = re.escape(w[:-1]) + "[a-z0-9]*" if w.endswith("*") else re.escape(w)
            return body + sep
        if isinstance(node, Wild):
            return r"(?:[a-z0-9]+\s+){0,3}"
        if isinstance(node, End):
            return r"$"
        if isinstance(node, Start):
            return r"^"
        if isinstance(node, Seq):
            parts = []
            # a small word may be missing from a phrase that keeps two other words
            droppable = sum(1 for i in node.items if not self._is_soft(i)) >= 2
            for item in node.items:
                part = self._rx(item, sep, depth + 1)
                if droppable and self._is_soft(item):
                    part = f"(?:{part})?"
                parts.append(part)
            return "".join(parts)
        if isinstance(node, Alt):
            opts = [self._rx(o, sep, depth + 1) for o in node.options]
            body = "(?:" + "|".join(opts) + ")"
            return body + "?" if node.optional or "" in opts else body
        if isinstance(node, SlotRef):
            opts = [self._rx(v.text, sep, depth + 1) for v in self._list(node.name).values]
            return "(?:" + "|".join(opts) + ")"
        if isinstance(node, RuleRef):
            return self._rx(self._rule(node.name), sep, depth + 1)
        raise TypeError(node)

    def _list(self, name: str) -> SlotList:
        if name not in self.lists:
            raise TemplateError(f"unknown slot list {{{name}}}")
        return self.lists[name]

    def _rule(self, name: str) -> Alt:
        if name not in self.rules:
            raise TemplateError(f"unknown expansion rule <{name}>")
        return self.rules[name]


def slot_refs(node: Any) -> set[str]:
    if isinstance(node, SlotRef):
        return {node.name}
    if isinstance(node, Seq):
        return set().union(*(slot_refs(i) for i in node.items)) if node.items else set()
    if isinstance(node, Alt):
        return set().union(*(slot_refs(o) for o in node.options)) if node.options else set()
    return set()


# ---------------------------------------------------------------------------------------------
# intents


GROUPS = ("control", "technique", "state", "answer", "other")
CONTROL_INTENTS = ("stop", "pause", "resume", "repeat", "skip", "more", "slower", "faster",
                   "louder", "quieter", "goodbye")
# Intents an utterance may be taken for while the person answers a question.
_ANSWER_COMMANDS = set(CONTROL_INTENTS) | {"yes", "no", "help"}


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
    file: str | None = None
    line: int | None = None


@dataclass
class _Scored:
    name: str
    score: float
    template: float
    keyword: float
    semantic: float = 0.0
    """Similarity by meaning with the intent's exemplars (0 without the semantic layer)."""
    rule: float = 0.0
    """The template and keyword score alone."""


class IntentMatcher:
    """Matches an utterance to an intent; build it with :func:`load_matcher` or :meth:`from_dict`."""

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
        self._semantic: _Semantic | None = None
        self._semantic_tried = False

    def _expansion_key(self) -> str:
        """A digest of everything the template expansions depend on."""
        h = hashlib.sha256(_EXPANSION_VERSION.encode())
        h.update(repr(CONTRACTIONS).encode())
        h.update(repr((self._fillers.pattern if self._fillers else "", sorted(self._leading))).encode())
        h.update(repr(sorted((k, v) for k, v in self.grammar.rules.items())).encode())
        h.update(repr(sorted((k, [(v.text, v.value) for v in lst.values])
                             for k, lst in self.grammar.lists.items())).encode())
        for intent in self.intents.values():
            h.update(repr((intent.name, [t.tree for t in intent.templates])).encode())
        return h.hexdigest()[:32]

    def _expansions(self) -> tuple[list[str], list[str], list[dict[str, str]]]:
        """Every template's (cleaned) expansions with their intent and slots.

        Expanding and cleaning some 20 000 sentences takes about a second, so the result is kept
        in the user cache directory under a digest of the templates, lists, rules and fillers."""
        path = None
        cache = _cache_dir()
        if cache is not None:
            path = cache / f"expansions-{self._expansion_key()}.json"
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict) and len(data.get("choices", ())) == len(data.get("owner", ())) \
                        == len(data.get("slots", ())) and set(data["owner"]) <= set(self.intents):
                    return list(data["choices"]), list(data["owner"]), list(data["slots"])
            except (OSError, ValueError, TypeError):
                pass
        choices: list[str] = []
        owner: list[str] = []
        slot_values: list[dict[str, str]] = []
        for intent in self.intents.values():
            for t in intent.templates:
                for text, slots in self.grammar.sentences(t.tree):
                    norm = self.clean(text)
                    if not norm:
                        continue
                    choices.append(norm)
                    owner.append(intent.name)
                    slot_values.append(slots)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"choices": choices, "owner": owner, "slots": slot_values}),
                               encoding="utf-8")
                os.replace(tmp, path)
                old = sorted(path.parent.glob("expansions-*.json"), key=lambda p: p.stat().st_mtime)
                for stale in old[:-8]:  # keep the few most recent (packaged and user files)
                    stale.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only cache only costs time
        return choices, owner, slot_values

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, file: str = "<intents>", threshold: float | None = None,
                  base: IntentMatcher | None = None) -> IntentMatcher:
        """Build from parsed YAML (``base``: a matcher whose intents this data is merged over)."""
        raw = _RawIntents.empty() if base is None else base._raw.copy()
        raw.merge(data, file)
        m = raw.build(threshold)
        m._raw = raw
        return m

    @classmethod
    def from_yaml(cls, stream: Any, file: str = "<intents>", threshold: float | None = None) -> IntentMatcher:
        from voicecoach.yamlio import load_yaml

        text = stream if isinstance(stream, str) else stream.read()
        return cls.from_dict(load_yaml(text, file, IntentsError), file, threshold)

    @classmethod
    def from_files(cls, paths: list[Path], threshold: float | None = None) -> IntentMatcher:
        raw = _RawIntents.empty()
        for p in paths:
            raw.merge(read_yaml_fast(Path(p), IntentsError), str(p))
        m = raw.build(threshold)
        m._raw = raw
        return m

    _raw: _RawIntents

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

    def scores(self, text: str, *, semantic: bool = True) -> list[_Scored]:
        """Every intent's score for the text, best first: the template and keyword score
        (``rule``), the similarity by meaning with the intent's exemplars (``semantic``, when the
        semantic layer is installed and ``semantic`` is true) and the two combined (``score``)."""
        return self._scores(text, semantic)[0]

    def _scores(self, text: str, semantic: bool = True) -> tuple[list[_Scored], np.ndarray | None]:
        """:meth:`scores` and the utterance's sentence vector (None without the semantic layer)."""
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
            r = _combine(t, k, n_words)
            out.append(_Scored(name, r, t, k, rule=r))
        sem = self.semantic() if semantic else None
        vec = None
        if sem is not None:
            vec = sem.encode(clean)
            by_intent = sem.intent_similarities(vec)
            for sc in out:
                sc.semantic = by_intent.get(sc.name, 0.0)
            _fuse(out, self.threshold)
        out.sort(key=lambda s: s.score, reverse=True)
        return out, vec

    # -- the semantic layer -----------------------------------------------------------------------

    def semantic(self) -> _Semantic | None:
        """The exemplar embeddings, built on first use; None without the semantic extra (or with
        ``use_semantic`` off), and then the matcher uses templates and keywords only."""
        if not self.use_semantic:
            return None
        if not self._semantic_tried:
            self._semantic_tried = True
            self._semantic = _Semantic.build(self)
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
            sim = self._semantic.crisis_similarity(vec) if self._semantic is not None else 0.0
            if sim >= CRISIS_CHECK_SIMILARITY:
                slots = {"ask_directly": True, "category": "semantic", "matched": f"{sim:.2f}"}
                return IntentMatch("crisis_check", round(sim, 3), slots, best="crisis_check", text=text)
        best = scored[0]
        {s.name: s for s in scored}
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
        conf = _calibrate(chosen, scored)
        slots = self._slots_for(chosen.name, text, clean)
        name = chosen.name if conf >= self.threshold else None
        return IntentMatch(name, round(conf, 3), slots, best=chosen.name, text=text)

    def _command_in_answer(self, clean: str, scored: list[_Scored]) -> _Scored | None:
        words = clean.split()
        if not words or len(words) > 4:
            return None
        for s in scored:
            if s.name in _ANSWER_COMMANDS and s.template >= 0.86:
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


# ---------------------------------------------------------------------------------------------
# the semantic layer

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


class _Semantic:
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
    def build(cls, matcher: IntentMatcher) -> _Semantic | None:
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

    def encode(self, clean: str) -> np.ndarray:
        return self.encoder.encode([embed_text(clean)])[0]

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


def _fuse(scored: list[_Scored], threshold: float) -> None:
    """Sets ``score`` from the rule scores and the semantic similarities (see docs/intents.md):
    a confident rule decision with a near-exact template stands; a confident rule decision on
    keywords stands unless the semantic layer strongly prefers another intent; otherwise an
    intent's score is the better of its rule score and its semantic confidence."""
    if not scored:
        return
    by_rule = max(scored, key=lambda s: s.rule)
    rule_conf = _calibrate(by_rule, scored, key="rule")
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


def command_shaped(clean: str, s: _Scored) -> bool:
    """True when an utterance is a command for intent score ``s``: short and close to one of the
    intent's templates ("okay you can stop", "slow it down", "I can't hear you, louder"). A longer
    sentence that merely contains a command word ("I can't stop thinking about him", "my breathing
    gets faster when I think about it") is not, and goes to the technique and crisis layers."""
    n = len(clean.split())
    if n == 0:
        return False
    if s.template >= NEAR_EXACT and n <= 9:
        return True  # one of its own templates, said whole
    if (s.template >= 0.66 and n <= 4) or (s.template >= 0.6 and n <= 3):
        return True
    if s.keyword > 0:
        return (s.template >= 0.7 and n <= 6) or (s.template >= 0.6 and n <= 3)
    return False


def _combine(t: float, k: float, n_words: int) -> float:
    """One 0..1 score from the best template similarity ``t`` and the keyword weight ``k``."""
    tc = min(1.0, max(0.0, (t - 0.6) / 0.4))
    kc = 1.0 - float(np.exp(-max(k, 0.0) / 2.0))
    score = 1.0 - (1.0 - tc) * (1.0 - kc)
    if k < 0:
        score *= 0.4
    return score


def _calibrate(chosen: _Scored, scored: list[_Scored], key: str = "score") -> float:
    """The winner's score, lowered when another intent comes close."""
    others = [getattr(s, key) for s in scored if s.name != chosen.name]
    runner = max(others) if others else 0.0
    conf = getattr(chosen, key)
    margin = conf - runner
    if margin < 0.15:
        conf *= 0.85 + margin
    return max(0.0, min(1.0, conf))


# ---------------------------------------------------------------------------------------------
# loading


class _RawIntents:
    """Intents data gathered from one or more files before the matcher is built."""

    def __init__(self):
        self.intents: dict[str, Intent] = {}
        self.lists: dict[str, SlotList] = {}
        self.rules: dict[str, Alt] = {}
        self.fillers: list[str] = []
        self.leading: list[str] = []
        self.threshold: float | None = None
        self.pending_keywords: list[tuple[Intent, str, float, str | None, int | None]] = []

    @classmethod
    def empty(cls) -> _RawIntents:
        return cls()

    def copy(self) -> _RawIntents:
        other = _RawIntents()
        other.intents = {
            k: Intent(v.name, v.group, v.script, list(v.templates), [], list(v.slots),
                      list(v.command_phrases), list(v.examples), v.file, v.line)
            for k, v in self.intents.items()
        }
        other.lists = dict(self.lists)
        other.rules = dict(self.rules)
        other.fillers = list(self.fillers)
        other.leading = list(self.leading)
        other.threshold = self.threshold
        other.pending_keywords = [
            (other.intents[i.name], src, w, f, ln) for i, src, w, f, ln in self.pending_keywords
        ]
        return other

    def merge(self, data: Any, file: str) -> None:
        if data is None:
            return
        if not isinstance(data, dict):
            raise IntentsError("an intents file is a mapping (language, lists, intents...)", file, line_of(data))
        known = {"language", "lists", "expansion_rules", "fillers", "leading_fillers", "intents",
                 "threshold"}
        for key in data:
            if key not in known:
                raise IntentsError(f"unknown key {key!r} (known: {', '.join(sorted(known))})",
                                   file, line_of(data, key))
        if "threshold" in data:
            th = data["threshold"]
            if isinstance(th, bool) or not isinstance(th, (int, float)) or not 0 <= th <= 1:
                raise IntentsError("threshold must be a number from 0 to 1", file, line_of(data, "threshold"))
            self.threshold = float(th)
        for key, target in (("fillers", self.fillers), ("leading_fillers", self.leading)):
            if key in data:
                vals = data[key]
                if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                    raise IntentsError(f"{key} must be a list of words", file, line_of(data, key))
                target.extend(normalize(v) for v in vals if normalize(v))
        rules = data.get("expansion_rules") or {}
        if not isinstance(rules, dict):
            raise IntentsError("expansion_rules must be a mapping of name: template", file, line_of(data, "expansion_rules"))
        for name, text in rules.items():
            self.rules[str(name)] = parse_template(text, file, line_of(rules, name))
        lists = data.get("lists") or {}
        if not isinstance(lists, dict):
            raise IntentsError("lists must be a mapping of name: {values: [...]}", file, line_of(data, "lists"))
        for name, body in lists.items():
            self.lists[str(name)] = _parse_list(str(name), body, file, line_of(lists, name))
        intents = data.get("intents") or {}
        if not isinstance(intents, dict):
            raise IntentsError("intents must be a mapping of name: {...}", file, line_of(data, "intents"))
        for name, body in intents.items():
            # YAML 1.1 reads a bare yes/no key as a boolean
            text = {True: "yes", False: "no"}.get(name, name) if isinstance(name, bool) else str(name)
            self._merge_intent(text, body, file, line_of(intents, name))

    def _merge_intent(self, name: str, body: Any, file: str, line: int | None) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise IntentsError(f"intent name {name!r} must be lower-case letters, digits and _", file, line)
        if not isinstance(body, dict):
            raise IntentsError(f"intent {name!r} must be a mapping (templates, keywords...)", file, line)
        known = {"group", "script", "templates", "keywords", "slots", "command_phrases", "examples"}
        for key in body:
            if key not in known:
                raise IntentsError(f"intent {name!r}: unknown key {key!r} (known: {', '.join(sorted(known))})",
                                   file, line_of(body, key))
        intent = self.intents.get(name) or Intent(name, file=file, line=line)
        self.intents[name] = intent
        if "group" in body:
            if body["group"] not in GROUPS:
                raise IntentsError(f"intent {name!r}: group must be one of {', '.join(GROUPS)}",
                                   file, line_of(body, "group"))
            intent.group = body["group"]
        if "script" in body:
            if body["script"] is not None and not isinstance(body["script"], str):
                raise IntentsError(f"intent {name!r}: script must be a script id", file, line_of(body, "script"))
            intent.script = body["script"]
        if "slots" in body:
            slots = body["slots"]
            if not isinstance(slots, list) or not all(isinstance(s, str) for s in slots):
                raise IntentsError(f"intent {name!r}: slots must be a list of slot names", file, line_of(body, "slots"))
            intent.slots = list(slots)
        templates = body.get("templates") or []
        if not isinstance(templates, list):
            raise IntentsError(f"intent {name!r}: templates must be a list", file, line_of(body, "templates"))
        for i, t in enumerate(templates):
            tl = line_of(templates, i)
            intent.templates.append(Template(str(t), parse_template(t, file, tl), file, tl))
        keywords = body.get("keywords") or {}
        if not isinstance(keywords, dict):
            raise IntentsError(f"intent {name!r}: keywords must be a mapping of pattern: weight",
                               file, line_of(body, "keywords"))
        for pat, weight in keywords.items():
            kl = line_of(keywords, pat)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise IntentsError(f"intent {name!r}: keyword {pat!r} needs a number weight", file, kl)
            parse_template(str(pat), file, kl)
            self.pending_keywords.append((intent, str(pat), float(weight), file, kl))
        phrases = body.get("command_phrases") or []
        if not isinstance(phrases, list):
            raise IntentsError(f"intent {name!r}: command_phrases must be a list", file, line_of(body, "command_phrases"))
        for i, p in enumerate(phrases):
            if not isinstance(p, str) or not re.fullmatch(r"[a-z]+( [a-z]+)*", p):
                raise IntentsError(f"intent {name!r}: command phrase {p!r} must be lower-case words only",
                                   file, line_of(phrases, i))
            intent.command_phrases.append(p)
        examples = body.get("examples") or []
        if not isinstance(examples, list):
            raise IntentsError(f"intent {name!r}: examples must be a list of sentences", file,
                               line_of(body, "examples"))
        for i, ex in enumerate(examples):
            if not isinstance(ex, str) or not normalize(ex):
                raise IntentsError(f"intent {name!r}: an example must be a sentence", file, line_of(examples, i))
            intent.examples.append(ex)

    def build(self, threshold: float | None) -> IntentMatcher:
        grammar = Grammar(self.lists, self.rules)
        for intent in self.intents.values():
            intent.keywords = []
        for intent, pat, weight, file, line in self.pending_keywords:
            try:
                rx = re.compile(grammar.regex(parse_template(pat, file, line)))
            except TemplateError as exc:
                raise IntentsError(exc.message, file, line) from None
            intent.keywords.append(Keyword(rx, weight, pat))
        for intent in self.intents.values():
            for t in intent.templates:
                try:
                    grammar.count(t.tree)
                except TemplateError as exc:
                    raise IntentsError(exc.message, t.file, t.line) from None
            for s in intent.slots:
                if s not in ("number", "minutes") and s not in self.lists:
                    raise IntentsError(f"intent {intent.name!r}: no slot list named {s!r}", intent.file, intent.line)
        th = threshold if threshold is not None else (self.threshold if self.threshold is not None else 0.55)
        return IntentMatcher(self.intents, grammar, self.fillers, self.leading, th)


def read_yaml_fast(path: Path, error: type[LocatedError]) -> Any:
    """:func:`voicecoach.yamlio.read_yaml_file` with libyaml's parser when it is installed (about
    eight times faster on the intents file). Any problem falls back to the pure-Python reader,
    which names file and line."""
    try:
        import yaml

        from voicecoach import yamlio

        loader = _C_LOADER.get("loader")
        if loader is None:
            class _CLoader(yaml.CSafeLoader):  # type: ignore[name-defined,misc]
                pass

            _CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                     yamlio._construct_mapping)  # noqa: SLF001
            _CLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
                                     yamlio._construct_sequence)  # noqa: SLF001
            loader = _C_LOADER["loader"] = _CLoader
        text = Path(path).read_text(encoding="utf-8")
        return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader with line numbers
    except Exception:  # noqa: BLE001 - the slow reader gives the located error
        return read_yaml_file(Path(path), error)


_C_LOADER: dict[str, Any] = {}


def _parse_list(name: str, body: Any, file: str, line: int | None) -> SlotList:
    if not isinstance(body, dict) or not isinstance(body.get("values"), list):
        raise IntentsError(f"list {name!r} needs values: [...]", file, line)
    values = []
    vals = body["values"]
    for i, v in enumerate(vals):
        vl = line_of(vals, i)
        if isinstance(v, str):
            values.append(SlotValue(parse_template(v, file, vl), normalize(v), v))
        elif isinstance(v, dict) and "in" in v and "out" in v:
            values.append(SlotValue(parse_template(str(v["in"]), file, vl), str(v["out"]), str(v["in"])))
        else:
            raise IntentsError(f"list {name!r}: a value is text or {{in: template, out: value}}", file, vl)
    return SlotList(name, values)


_CACHE: dict[tuple[str, float | None, float], IntentMatcher] = {}
_EXPANSION_VERSION = "1"  # raise when expansion or cleaning changes in a way the digest cannot see


def _cache_dir() -> Path | None:
    """Where template expansions are cached: $VOICECOACH_CACHE, else $XDG_CACHE_HOME/voicecoach,
    else ~/.cache/voicecoach; None when VOICECOACH_CACHE is empty (no cache)."""
    env = os.environ.get("VOICECOACH_CACHE")
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if base:
        return Path(base) / "voicecoach"
    try:
        return Path.home() / ".cache" / "voicecoach"
    except RuntimeError:
        return None


def load_matcher(home: Path | None = None, threshold: float | None = None) -> IntentMatcher:
    """The packaged intents with ``$home/intents.yaml`` merged over them; cached per home.

    ``threshold`` defaults to the config's ``dialogue.intent_threshold``. A bad file raises
    :class:`IntentsError` naming file and line.
    """
    from voicecoach.config import data_path, load_config

    if threshold is None:
        try:
            threshold = load_config(home).dialogue.intent_threshold
        except Exception:  # noqa: BLE001 - a broken config must not stop intent matching
            threshold = None
    paths = [data_path("intents.yaml")]
    if home is not None:
        user = Path(home) / "intents.yaml"
    else:
        from voicecoach.config import home_dir

        user = home_dir() / "intents.yaml"
    mtime = 0.0
    if user.exists():
        paths.append(user)
        mtime = user.stat().st_mtime
    key = (str(user), threshold, mtime)
    if key not in _CACHE:
        _CACHE[key] = IntentMatcher.from_files(paths, threshold)
    return _CACHE[key]


__all__ = [
    "Intent", "IntentMatcher", "IntentsError", "TemplateError", "Grammar", "load_matcher",
    "normalize", "parse_template", "CONTROL_INTENTS",
]

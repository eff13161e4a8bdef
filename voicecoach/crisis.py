"""The crisis screen: every utterance, in every state, before anything else.

Recall comes first. Phrases and patterns live in ``voicecoach/data/crisis.yaml`` (schema in
docs/intents.md), written in the template syntax of :mod:`voicecoach.intents`, and are matched on
normalised text where filler words may sit between any two words ("i really just want to die").
Before matching, heard or typed variants are rewritten ("wanna" → "want to", "my self" →
"myself", "myslef" → "myself") and everyday idioms are blanked out ("died laughing", "my phone is
dying"), so an idiom never hides a crisis statement said in the same breath. Negation does not
clear a statement ("i'm fine, i just want to die" is a crisis).

Three lines of defence, recall first:

1. explicit patterns by category (``categories``), matched on the text and on the text with the
   ``gap`` words taken out ("i really just feel like i want to die" -> "i want to die");
2. a cue scorer (``cues`` and ``combinations``): classes of cue words (death, self-harm, means,
   preparation, farewell, finality, hopelessness, an act, a wish...) are found in the utterance
   after idioms are blanked out; a combination of classes close together ("enough pills" + "saved
   up", "fastest way" + "die", "letters" + "for everyone") is a crisis, a lone strong cue asks;
3. fuzzy similarity (rapidfuzz) with a bank of crisis ``exemplars``, for misheard words the
   variants do not know.

A statement that might be a crisis but might not ("i just want it all to stop", "what's the
point") is flagged ``ask_directly``: the coach should kindly ask "Are you thinking about hurting
yourself?" and treat a yes as a crisis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rapidfuzz.distance import OSA

from voicecoach.config import data_path
from voicecoach.errors import LocatedError
from voicecoach.normalize import normalize
from voicecoach.templates import Grammar, TemplateError, parse_template
from voicecoach.yamlio import line_of, read_yaml_fast


class CrisisDataError(LocatedError):
    """A problem in a crisis phrases file (names file and line)."""


@dataclass(frozen=True)
class CrisisResult:
    """What the screen found in one utterance."""

    is_crisis: bool
    """True for a suicidal, self-harm, overdose or farewell statement."""
    category: str | None = None
    """direct | indirect | self_harm | overdose | farewell | hopelessness | method, or "ambiguous"."""
    matched: str | None = None
    """The words that fired the screen (normalised)."""
    ask_directly: bool = False
    """True for a statement that may be a crisis: ask "Are you thinking about hurting yourself?"."""


@dataclass
class _Pattern:
    category: str
    source: str
    rx: re.Pattern[str]


@dataclass
class _Combination:
    """Cue classes that, all found within ``window`` words of each other, make a crisis (or ask)."""

    classes: tuple[str, ...]
    category: str
    window: int = 12
    ask: bool = False


class CrisisScreen:
    """Compiled crisis data. Use :func:`screen` or :func:`default_screen` unless testing a file."""

    def __init__(self, patterns: list[_Pattern], ambiguous: list[_Pattern], idioms: list[re.Pattern[str]],
                 downgrades: list[re.Pattern[str]], variants: list[tuple[re.Pattern[str], str]],
                 fuzzy_words: list[str], grammar_phrases: list[str], gap_words: list[str] | None = None,
                 cues: dict[str, list[_Pattern]] | None = None,
                 combinations: list[_Combination] | None = None, exemplars: list[str] | None = None,
                 exemplar_score: float = 88.0):
        self.gap_words = gap_words or []
        self._gap_rx = re.compile(
            r"(?<![a-z0-9])(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+")
                                           for w in sorted(self.gap_words, key=len, reverse=True))
            + r")(?![a-z0-9])") if self.gap_words else None
        self.cues = cues or {}
        self.combinations = combinations or []
        self.exemplars = exemplars or []
        self.exemplar_score = exemplar_score
        self.patterns = patterns
        self.ambiguous = ambiguous
        self.idioms = idioms
        self.downgrades = downgrades
        self.variants = variants
        self.fuzzy_words = fuzzy_words
        self.grammar_phrases = grammar_phrases

    # -- loading -----------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, file: str = "<crisis>") -> CrisisScreen:
        if not isinstance(data, dict):
            raise CrisisDataError("a crisis file is a mapping (gap, variants, idioms, categories...)",
                                  file, line_of(data))
        known = {"gap", "soft", "rules", "variants", "fuzzy_words", "idioms", "downgrade", "categories",
                 "ambiguous", "grammar_phrases", "cues", "combinations", "exemplars", "exemplar_score"}
        for key in data:
            if key not in known:
                raise CrisisDataError(f"unknown key {key!r} (known: {', '.join(sorted(known))})",
                                      file, line_of(data, key))
        rules = data.get("rules") or {}
        if not isinstance(rules, dict):
            raise CrisisDataError("rules must be a mapping of name: template", file, line_of(data, "rules"))
        grammar = Grammar(rules={
            str(k): parse_template(v, file, line_of(rules, k)) for k, v in rules.items()
        })

        def words_list(key: str) -> list[str]:
            vals = data.get(key) or []
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                raise CrisisDataError(f"{key} must be a list of words", file, line_of(data, key))
            return [normalize(v) for v in vals if normalize(v)]

        gap_words = words_list("gap")
        soft = frozenset(words_list("soft"))

        def compile_list(container: Any, key: str | int, use_gap: bool = True) -> list[re.Pattern[str]]:
            vals = container.get(key) if isinstance(container, dict) else container[key]
            vals = vals or []
            if not isinstance(vals, list):
                raise CrisisDataError(f"{key} must be a list of patterns", file, line_of(container, key))
            out = []
            for i, v in enumerate(vals):
                ln = line_of(vals, i)
                if not isinstance(v, str):
                    raise CrisisDataError("a pattern must be text", file, ln)
                try:
                    tree = parse_template(v, file, ln)
                    # gap words are taken out of the text instead (see CrisisScreen.texts):
                    # a pattern with a gap expression between every two words is slow to compile
                    if use_gap:
                        out.append(re.compile(grammar.regex(tree, "", soft)))
                    else:
                        out.append(re.compile(grammar.regex(tree)))
                except TemplateError as exc:
                    raise CrisisDataError(exc.message, file, ln) from None
            return out

        variants = []
        raw_variants = data.get("variants") or {}
        if not isinstance(raw_variants, dict):
            raise CrisisDataError("variants must be a mapping of heard: meant", file, line_of(data, "variants"))
        for heard, meant in raw_variants.items():
            if not isinstance(meant, str):
                raise CrisisDataError(f"variant {heard!r} needs text", file, line_of(raw_variants, heard))
            h = normalize(str(heard))
            variants.append((re.compile(r"(?<![a-z0-9])" + re.escape(h).replace(r"\ ", r"\s+")
                                        + r"(?![a-z0-9])"), normalize(meant)))
        categories = data.get("categories")
        if not isinstance(categories, dict) or not categories:
            raise CrisisDataError("categories must map a category name to a list of patterns",
                                  file, line_of(data, "categories"))
        patterns: list[_Pattern] = []
        for cat, vals in categories.items():
            if not isinstance(vals, list):
                raise CrisisDataError(f"category {cat!r} must be a list of patterns", file, line_of(categories, cat))
            for rx, src in zip(compile_list(categories, cat), vals, strict=False):
                patterns.append(_Pattern(str(cat), src, rx))
        ambiguous = [
            _Pattern("ambiguous", src, rx)
            for rx, src in zip(compile_list(data, "ambiguous"), data.get("ambiguous") or [], strict=False)
        ]
        idioms = compile_list(data, "idioms", use_gap=False)
        downgrades = compile_list(data, "downgrade")
        phrases = data.get("grammar_phrases") or []
        if not isinstance(phrases, list):
            raise CrisisDataError("grammar_phrases must be a list", file, line_of(data, "grammar_phrases"))
        for i, p in enumerate(phrases):
            if not isinstance(p, str) or not re.fullmatch(r"[a-z]+( [a-z]+)*", p):
                raise CrisisDataError(f"grammar phrase {p!r} must be lower-case words only",
                                      file, line_of(phrases, i))
        cues: dict[str, list[_Pattern]] = {}
        raw_cues = data.get("cues") or {}
        if not isinstance(raw_cues, dict):
            raise CrisisDataError("cues must map a cue class to a list of patterns", file, line_of(data, "cues"))
        for cls_name, vals in raw_cues.items():
            if not isinstance(vals, list):
                raise CrisisDataError(f"cue class {cls_name!r} must be a list of patterns", file,
                                      line_of(raw_cues, cls_name))
            cues[str(cls_name)] = [_Pattern(str(cls_name), src, rx) for rx, src in
                                   zip(compile_list(raw_cues, cls_name), vals, strict=False)]
        combos: list[_Combination] = []
        raw_combos = data.get("combinations") or []
        if not isinstance(raw_combos, list):
            raise CrisisDataError("combinations must be a list", file, line_of(data, "combinations"))
        for i, c in enumerate(raw_combos):
            ln = line_of(raw_combos, i)
            if not isinstance(c, dict) or not isinstance(c.get("all"), list) or not c["all"]:
                raise CrisisDataError("a combination is {all: [cue classes], category: ..., window: n}",
                                      file, ln)
            for name in c["all"]:
                if str(name) not in cues:
                    raise CrisisDataError(f"combination names an unknown cue class {name!r}", file, ln)
            window = c.get("window", 12)
            if isinstance(window, bool) or not isinstance(window, int) or window < 1:
                raise CrisisDataError("window must be a positive whole number of words", file, ln)
            combos.append(_Combination(tuple(str(n) for n in c["all"]), str(c.get("category", "indirect")),
                                       window, bool(c.get("ask", False))))
        exemplars = data.get("exemplars") or []
        if not isinstance(exemplars, list) or not all(isinstance(e, str) for e in exemplars):
            raise CrisisDataError("exemplars must be a list of sentences", file, line_of(data, "exemplars"))
        score = data.get("exemplar_score", 88)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 50 <= score <= 100:
            raise CrisisDataError("exemplar_score must be a number from 50 to 100", file,
                                  line_of(data, "exemplar_score"))
        return cls(patterns, ambiguous, idioms, downgrades, variants, words_list("fuzzy_words"),
                   list(phrases), gap_words, cues, combos, [normalize(e) for e in exemplars if normalize(e)],
                   float(score))

    @classmethod
    def from_file(cls, path: Path) -> CrisisScreen:
        return cls.from_dict(read_yaml_fast(Path(path), CrisisDataError), str(path))

    # -- screening ---------------------------------------------------------------------------

    def prepare(self, text: str) -> str:
        """Normalised text with variants rewritten and misspelt key words corrected."""
        norm = normalize(text)
        if self.fuzzy_words:
            words = []
            for w in norm.split():
                if len(w) >= 6 and w not in self.fuzzy_words:
                    for target in self.fuzzy_words:
                        limit = 2 if len(target) >= 9 else 1
                        if abs(len(w) - len(target)) <= limit and OSA.distance(w, target) <= limit:
                            w = target
                            break
                words.append(w)
            norm = " ".join(words)
        for rx, meant in self.variants:
            norm = rx.sub(meant, norm)
        return " ".join(norm.split())

    def texts(self, norm: str) -> list[str]:
        """The prepared text, and the same without gap words ("i really just want to die")."""
        out = [norm]
        if self._gap_rx is not None:
            stripped = " ".join(self._gap_rx.sub(" ", norm).split())
            if stripped and stripped != norm:
                out.append(stripped)
        return out

    def _blank(self, text: str) -> tuple[str, str | None]:
        """Idioms and denials blanked out; the first denial found is returned too."""
        padded = text + " "
        for rx in self.idioms:
            padded = rx.sub(lambda m: " " * len(m.group(0)), padded)
        downgraded = None
        for rx in self.downgrades:
            m = rx.search(padded)
            while m:
                downgraded = downgraded or m.group(0).strip()
                padded = padded[: m.start()] + " " * (m.end() - m.start()) + padded[m.end() :]
                m = rx.search(padded)
        return " ".join(padded.split()) + " ", downgraded

    def cue_positions(self, padded: str) -> dict[str, list[tuple[int, str]]]:
        """Each cue class found in the (blanked) text: word positions and the words."""
        found: dict[str, list[tuple[int, str]]] = {}
        for name, pats in self.cues.items():
            for p in pats:
                for m in p.rx.finditer(padded):
                    pos = padded.count(" ", 0, m.start())
                    found.setdefault(name, []).append((pos, m.group(0).strip()))
        return found

    def cue_classes(self, text: str) -> set[str]:
        """The cue classes found anywhere in an utterance (idioms and denials blanked out, with and
        without the gap words): features for the learned layer (:mod:`voicecoach.crisis_model`)."""
        norm = self.prepare(text if isinstance(text, str) else str(text or ""))
        if not norm:
            return set()
        first, _ = self._blank(norm)
        found = set(self.cue_positions(first))
        for t in self.texts(first.strip())[1:]:
            found |= set(self.cue_positions(self._blank(t)[0]))
        return found

    def _combination(self, padded: str) -> tuple[_Combination, str] | None:
        found = self.cue_positions(padded)
        asked = None
        for combo in self.combinations:
            if not all(c in found for c in combo.classes):
                continue
            # the closest set of one hit per class
            best = None
            for anchor_pos, _w in found[combo.classes[0]]:
                picks = [(anchor_pos, _w)]
                for c in combo.classes[1:]:
                    picks.append(min(found[c], key=lambda h, a=anchor_pos: abs(h[0] - a)))  # type: ignore[misc]
                span = max(p for p, _ in picks) - min(p for p, _ in picks)
                if best is None or span < best[0]:
                    best = (span, picks)
            if best is not None and best[0] <= combo.window:
                words = " + ".join(w for _, w in sorted(best[1]))
                if not combo.ask:
                    return combo, words
                asked = asked or (combo, words)
        return asked

    def _exemplar(self, text: str) -> str | None:
        if not self.exemplars or len(text.split()) < 3:
            return None
        from rapidfuzz import fuzz, process

        hit = process.extractOne(text, self.exemplars, scorer=fuzz.ratio, score_cutoff=self.exemplar_score)
        return hit[0] if hit else None

    def screen(self, text: str) -> CrisisResult:
        """Screen one utterance: the whole of it, and each clause on its own, so an idiom blanked
        across a comma ("I wish I was dead, tired of living") cannot hide a statement. The
        strongest finding wins: a crisis, then a question to ask directly."""
        if not isinstance(text, str):
            text = str(text or "")
        result = self._screen_one(text)
        if result.is_crisis:
            return result
        clauses = [c for c in re.split(r"[,.;:!?\u2014]+|\s-\s", text) if c.strip()]
        if len(clauses) > 1:
            for clause in clauses:
                r = self._screen_one(clause)
                if r.is_crisis:
                    return r
                if r.ask_directly and not result.ask_directly:
                    result = r
        return result

    def _screen_one(self, text: str) -> CrisisResult:
        norm = self.prepare(text)
        if not norm:
            return CrisisResult(False)
        blanked: list[str] = []
        # idioms are blanked before the gap words go ("i feel like im going to die"), and again after
        first, downgraded = self._blank(norm)
        blanked.append(first)
        for t in self.texts(first.strip())[1:]:
            padded, denial = self._blank(t)
            downgraded = downgraded or denial
            blanked.append(padded)
        # 1. explicit patterns
        for padded in blanked:
            for p in self.patterns:
                m = p.rx.search(padded)
                if m:
                    return CrisisResult(True, p.category, m.group(0).strip())
        # 2. cue combinations
        asked: tuple[_Combination, str] | None = None
        for padded in blanked:
            hit = self._combination(padded)
            if hit and not hit[0].ask:
                return CrisisResult(True, hit[0].category, hit[1])
            asked = asked or hit
        # 3. similarity with crisis exemplars
        for padded in blanked:
            ex = self._exemplar(padded.strip())
            if ex:
                return CrisisResult(True, "similar", ex)
        if downgraded:
            return CrisisResult(False, "ambiguous", downgraded, ask_directly=True)
        for padded in blanked:
            for p in self.ambiguous:
                m = p.rx.search(padded)
                if m:
                    return CrisisResult(False, "ambiguous", m.group(0).strip(), ask_directly=True)
        if asked:
            return CrisisResult(False, "ambiguous", asked[1], ask_directly=True)
        return CrisisResult(False)


@lru_cache(maxsize=1)
def default_screen() -> CrisisScreen:
    """The packaged crisis screen (loaded once)."""
    return CrisisScreen.from_file(data_path("crisis.yaml"))


def screen(text: str) -> CrisisResult:
    """Screen one utterance with the packaged crisis data."""
    return default_screen().screen(text)


def grammar_phrases() -> list[str]:
    """Crisis phrases a recogniser's command grammar must always contain."""
    return list(default_screen().grammar_phrases)

"""The crisis screen: every utterance, in every state, before anything else.

Recall comes first. Phrases and patterns live in ``voicecoach/data/crisis.yaml`` (schema in
docs/intents.md), written in the template syntax of :mod:`voicecoach.intents`, and are matched on
normalised text where filler words may sit between any two words ("i really just want to die").
Before matching, heard or typed variants are rewritten ("wanna" → "want to", "my self" →
"myself", "myslef" → "myself") and everyday idioms are blanked out ("died laughing", "my phone is
dying"), so an idiom never hides a crisis statement said in the same breath. Negation does not
clear a statement ("i'm fine, i just want to die" is a crisis).

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

from voicecoach.errors import LocatedError
from voicecoach.yamlio import line_of, read_yaml_file


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


class CrisisScreen:
    """Compiled crisis data. Use :func:`screen` or :func:`default_screen` unless testing a file."""

    def __init__(self, patterns: list[_Pattern], ambiguous: list[_Pattern], idioms: list[re.Pattern[str]],
                 downgrades: list[re.Pattern[str]], variants: list[tuple[re.Pattern[str], str]],
                 fuzzy_words: list[str], grammar_phrases: list[str]):
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
        from voicecoach.intents import Grammar, TemplateError, normalize, parse_template

        if not isinstance(data, dict):
            raise CrisisDataError("a crisis file is a mapping (gap, variants, idioms, categories...)",
                                  file, line_of(data))
        known = {"gap", "soft", "rules", "variants", "fuzzy_words", "idioms", "downgrade", "categories",
                 "ambiguous", "grammar_phrases"}
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
        gap = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in gap_words)

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
                    if use_gap:
                        out.append(re.compile(grammar.regex(tree, gap, soft)))
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
        return cls(patterns, ambiguous, idioms, downgrades, variants, words_list("fuzzy_words"),
                   list(phrases))

    @classmethod
    def from_file(cls, path: Path) -> CrisisScreen:
        return cls.from_dict(read_yaml_file(Path(path), CrisisDataError), str(path))

    # -- screening ---------------------------------------------------------------------------

    def prepare(self, text: str) -> str:
        """Normalised text with variants rewritten and misspelt key words corrected."""
        from voicecoach.intents import normalize

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

    def screen(self, text: str) -> CrisisResult:
        """Screen one utterance."""
        if not isinstance(text, str):
            text = str(text or "")
        norm = self.prepare(text)
        if not norm:
            return CrisisResult(False)
        padded = norm + " "
        for rx in self.idioms:
            padded = rx.sub(lambda m: " " * len(m.group(0)), padded)
        downgraded = None
        for rx in self.downgrades:
            m = rx.search(padded)
            if m:
                downgraded = downgraded or m.group(0).strip()
                padded = padded[: m.start()] + " " * (m.end() - m.start()) + padded[m.end() :]
        padded = " ".join(padded.split()) + " "
        for p in self.patterns:
            m = p.rx.search(padded)
            if m:
                return CrisisResult(True, p.category, m.group(0).strip())
        if downgraded:
            return CrisisResult(False, "ambiguous", downgraded, ask_directly=True)
        for p in self.ambiguous:
            m = p.rx.search(padded)
            if m:
                return CrisisResult(False, "ambiguous", m.group(0).strip(), ask_directly=True)
        return CrisisResult(False)


@lru_cache(maxsize=1)
def default_screen() -> CrisisScreen:
    """The packaged crisis screen (loaded once)."""
    from voicecoach.config import data_path

    return CrisisScreen.from_file(data_path("crisis.yaml"))


def screen(text: str) -> CrisisResult:
    """Screen one utterance with the packaged crisis data."""
    return default_screen().screen(text)


def grammar_phrases() -> list[str]:
    """Crisis phrases a recogniser's command grammar must always contain."""
    return list(default_screen().grammar_phrases)

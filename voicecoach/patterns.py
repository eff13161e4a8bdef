"""Thinking traps and core beliefs heard in a spoken thought (``voicecoach/data/patterns.yaml``).

Rules are regular expressions over normalised text (lower case, no punctuation, contractions
spelled out: :func:`voicecoach.normalize.spell_out`), so recogniser output ("hes going to leave me") and typed text ("He's going to
leave me!") match alike. A hit carries the gentle line the coach says; nothing here diagnoses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from voicecoach.config import data_path
from voicecoach.errors import ConfigError, VoicecoachError
from voicecoach.normalize import spell_out
from voicecoach.yamlio import line_of, read_yaml_file

PATTERN_SETS = ("thinking_traps", "core_beliefs")


@dataclass(frozen=True)
class PatternHit:
    """A pattern heard in the text."""

    name: str
    """Stable id, e.g. ``mind_reading`` or ``people_leave``."""
    label: str
    """Human name, e.g. "mind reading" or "People will leave me"."""
    line: str
    """What the coach says about it."""


@dataclass(frozen=True)
class Pattern:
    """One trap or belief and the rules that find it."""

    name: str
    label: str
    line: str
    rules: tuple[re.Pattern[str], ...]


def load_patterns(path: Path | None = None) -> dict[str, list[Pattern]]:
    """Read the pattern sets; a bad rule or missing field names file and line."""
    path = path or data_path("patterns.yaml")
    file = str(path)
    data = read_yaml_file(path, ConfigError)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of pattern sets", file, line_of(data))
    out: dict[str, list[Pattern]] = {}
    for set_name, items in data.items():
        if set_name not in PATTERN_SETS:
            raise ConfigError(
                f"unknown pattern set '{set_name}' (sets: {', '.join(PATTERN_SETS)})",
                file,
                line_of(data, set_name),
            )
        if not isinstance(items, list) or not items:
            raise ConfigError(
                f"{set_name}: expected a list of patterns", file, line_of(data, set_name)
            )
        patterns: list[Pattern] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            where = line_of(items, i)
            if not isinstance(item, dict):
                raise ConfigError(f"{set_name}: each pattern is a mapping", file, where)
            for key in ("name", "label", "line"):
                if not isinstance(item.get(key), str) or not item[key].strip():
                    raise ConfigError(
                        f"{set_name}: pattern needs '{key}' text", file, line_of(item, key) or where
                    )
            if item["name"] in seen:
                raise ConfigError(
                    f"{set_name}: duplicate pattern '{item['name']}'", file, line_of(item, "name")
                )
            seen.add(item["name"])
            rules = item.get("rules")
            if not isinstance(rules, list) or not rules:
                raise ConfigError(
                    f"{item['name']}: needs a list of rules", file, line_of(item, "rules") or where
                )
            compiled = []
            for j, rule in enumerate(rules):
                if not isinstance(rule, str) or not rule.strip():
                    raise ConfigError(
                        f"{item['name']}: a rule must be text", file, line_of(rules, j)
                    )
                try:
                    compiled.append(re.compile(r"(?<![a-z0-9])(?:" + rule + r")(?![a-z0-9])"))
                except re.error as exc:
                    raise ConfigError(
                        f"{item['name']}: bad rule: {exc}", file, line_of(rules, j)
                    ) from None
            patterns.append(Pattern(item["name"], item["label"], item["line"], tuple(compiled)))
        out[set_name] = patterns
    for set_name in PATTERN_SETS:
        if set_name not in out:
            raise ConfigError(f"missing pattern set '{set_name}'", file, line_of(data))
    return out


@lru_cache(maxsize=1)
def _builtin() -> dict[str, list[Pattern]]:
    return load_patterns()


def find(pattern_set: str, text: str) -> list[PatternHit]:
    """The patterns of ``pattern_set`` heard in ``text``, each once, in the data file's order."""
    sets = _builtin()
    if pattern_set not in sets:
        raise VoicecoachError(
            f"unknown pattern set '{pattern_set}' (sets: {', '.join(PATTERN_SETS)})"
        )
    norm = spell_out(text or "")
    if not norm:
        return []
    hits = []
    for pattern in sets[pattern_set]:
        if any(rule.search(norm) for rule in pattern.rules):
            hits.append(PatternHit(pattern.name, pattern.label, pattern.line))
    return hits

"""Templates in the manner of hassil, shared by the intent matcher and the crisis screen.

- ``word``: a word; ``breath*`` (keywords and crisis patterns only) matches any word starting so
- ``[optional words]``, ``(alt one|alt two)``, ``(a|)`` is optional too
- ``{list}``: any value of a slot list (its value is recorded for the slot)
- ``<rule>``: an expansion rule from ``expansion_rules``
- ``*`` (keywords and crisis patterns only): up to three words of anything
- ``$`` (keywords and crisis patterns only): the end of the utterance
- ``^`` (keywords and crisis patterns only): the start of the utterance
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from voicecoach.errors import LocatedError


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

"""Loading intents: the packaged file, the person's own merged over it, a cache of template expansions.

The packaged ``voicecoach/data/intents.yaml`` is loaded, and the person's ``$home/intents.yaml`` is
merged over it (same intent name: its templates, keywords and command phrases are added; the
other fields replace). The schema is in docs/intents.md.

The template syntax is in :mod:`voicecoach.templates`.

Every utterance goes through the crisis screen first (:mod:`voicecoach.crisis`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from voicecoach.errors import LocatedError
from voicecoach.matcher import ACTS, GROUPS, Intent, IntentMatcher, Keyword, Template
from voicecoach.normalize import normalize
from voicecoach.templates import Alt, Grammar, SlotList, SlotValue, TemplateError, parse_template
from voicecoach.yamlio import line_of, load_yaml, read_yaml_fast

__all__ = ["IntentMatcher", "IntentsError", "TemplateError", "load_matcher", "normalize",
           "parse_template", "Grammar", "matcher_from_dict", "matcher_from_files",
           "matcher_from_yaml", "read_yaml_fast"]


class IntentsError(LocatedError):
    """A problem in an intents file (names file and line)."""


def matcher_from_dict(data: Any, file: str = "<intents>", threshold: float | None = None,
                      base: IntentMatcher | None = None) -> IntentMatcher:
    """A matcher from parsed YAML (``base``: a matcher whose intents this data is merged over)."""
    raw = _RawIntents.empty() if base is None else base._raw.copy()
    raw.merge(data, file)
    m = raw.build(threshold)
    m._raw = raw
    return m


def matcher_from_yaml(stream: Any, file: str = "<intents>", threshold: float | None = None) -> IntentMatcher:
    text = stream if isinstance(stream, str) else stream.read()
    return matcher_from_dict(load_yaml(text, file, IntentsError), file, threshold)


def matcher_from_files(paths: list[Path], threshold: float | None = None) -> IntentMatcher:
    raw = _RawIntents.empty()
    for p in paths:
        raw.merge(read_yaml_fast(Path(p), IntentsError), str(p))
    m = raw.build(threshold)
    m._raw = raw
    return m


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
                      list(v.command_phrases), list(v.examples), acts=v.acts, file=v.file, line=v.line)
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
        known = {"group", "script", "templates", "keywords", "slots", "command_phrases", "examples", "acts"}
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
        if "acts" in body:
            acts = body["acts"]
            if not isinstance(acts, list) or any(a not in ACTS for a in acts):
                raise IntentsError(f"intent {name!r}: acts must be a list of {', '.join(ACTS)}", file,
                                   line_of(body, "acts"))
            intent.acts = frozenset(acts)
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
        _CACHE[key] = matcher_from_files(paths, threshold)
    return _CACHE[key]


__all__ = [
    "Intent", "IntentMatcher", "IntentsError", "TemplateError", "Grammar", "load_matcher",
    "normalize", "parse_template",
]

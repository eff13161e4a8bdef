"""Scripts: the YAML format (docs/scripts.md), its loader and validator, and the library of
built-in and user scripts. Loading never raises anything but ScriptError, and the validator
collects every problem as ``file:line: message``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from voicecoach.config import data_path
from voicecoach.errors import ScriptError
from voicecoach.followup import FollowUp, check_follow_up, parse_follow_up
from voicecoach.types import Phase
from voicecoach.yamlio import line_of, load_yaml

PROTECTED = frozenset({"crisis-support"})
"""Scripts a user file can never replace."""

REF = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
SCRIPT_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
TEXT_REF = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class StepKind(str, Enum):
    """What a step does."""

    SAY = "say"
    PAUSE = "pause"
    BREATHE = "breathe"
    ASK = "ask"
    RATE = "rate"
    COLLECT = "collect"
    CHOOSE = "choose"
    NOTICE = "notice"
    WAIT = "wait"
    SAVE = "save"
    GOTO = "goto"
    END = "end"


LISTENING_KINDS = frozenset({StepKind.ASK, StepKind.RATE, StepKind.COLLECT, StepKind.CHOOSE})

DEFAULT_CUES = {
    Phase.INHALE: "Breathe in",
    Phase.HOLD_IN: "Hold",
    Phase.EXHALE: "Breathe out",
    Phase.HOLD_OUT: "Hold",
}

Value = Any
"""A literal, or a ``"{param}"`` reference resolved when the step runs."""


@dataclass(frozen=True)
class PhaseSpec:
    """One phase of a breath."""

    phase: Phase
    seconds: Value
    cue: str


@dataclass(frozen=True)
class Option:
    """One answer a ``choose`` step understands."""

    match: tuple[str, ...] = ()
    """Words or phrases that pick it."""
    intent: str | None = None
    """An intent that picks it."""
    goto: str | None = None
    start: str | None = None
    end: bool = False
    say: tuple[str, ...] = ()
    """Spoken when it is picked."""
    label: str = ""
    """Stored as the answer."""


@dataclass(frozen=True)
class Condition:
    """A ``when`` test on parameters and answers."""

    name: str
    negate: bool = False
    values: tuple[Any, ...] | None = None
    op: str | None = None
    """A comparison with another answer or parameter: ``<``, ``<=``, ``>``, ``>=``, ``==``, ``!=``."""
    other: str | None = None
    """The right-hand name of a comparison."""


@dataclass
class Step:
    """One step of a script. Which fields matter depends on ``kind``."""

    kind: StepKind
    index: int
    line: int | None = None
    id: str | None = None
    when: Condition | None = None
    pause: Value = 0
    text: tuple[str, ...] = ()
    """say text, question or prompt."""
    name: str | None = None
    """``as``: the answer's name."""
    timeout: Value = None
    reprompt: tuple[str, ...] = ()
    optional: bool = False
    mode: str = "dictation"
    scale: tuple[int, int] = (0, 10)
    count: Value = 1
    encourage: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    default: int | None = None
    phases: tuple[PhaseSpec, ...] = ()
    cycles: Value = None
    minutes: Value = None
    counting: Value = False
    patterns: str = "thinking_traps"
    none_text: tuple[str, ...] = ()
    seconds: Value = 0
    checkin: tuple[str, ...] = ()
    save_kind: str | None = None
    save_fields: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    times: int | None = None
    expects: str | None = None
    """What the question asks for (voicecoach.answers.Expects); None: free_text, rating or choice by kind."""
    replies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Lines said after an answer, by how it reads (kind, unkind, unsure, no_content...)."""
    again: tuple[str, ...] = ()
    """Readings after which the question is asked once more (after the reply)."""
    voice: ScriptVoice | None = None
    """The step's own delivery (``voice:`` on the step), over the script's."""

    @property
    def label(self) -> str:
        return self.id or f"step {self.index + 1} ({self.kind.value})"


@dataclass(frozen=True)
class Param:
    """A script parameter that commands can set with ``--set``."""

    name: str
    default: Any
    min: float | None = None
    max: float | None = None
    recall: str | None = None
    """``KIND.FIELD``: take the default from the journal's latest entry."""
    help: str = ""


@dataclass(frozen=True)
class ScriptVoice:
    """Voice settings a script (or one step) asks for: multipliers of the configured voice (a
    step's multiply the script's), and pauses and fades in seconds / fractions."""

    rate: float = 1.0
    volume: float = 1.0
    voice: str | None = None
    pitch: float = 1.0
    sentence_pause: float | None = None
    """Extra seconds of silence after each sentence end (None: the script's, else 0)."""
    fade: float | None = None
    """A step's volume falls to this fraction by its end (a bedtime session's last minutes)."""


@dataclass
class Script:
    """A guided session."""

    id: str
    title: str
    description: str
    source: str
    steps: list[Step]
    techniques: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    slots: dict[str, Any] = field(default_factory=dict)
    voice: ScriptVoice = field(default_factory=ScriptVoice)
    params: dict[str, Param] = field(default_factory=dict)
    journal: str | None = None
    bedtime: bool = False
    file: str = "<input>"
    follow_up: FollowUp | None = None
    """What the session plans, asked about next time (voicecoach/followup.py)."""

    def step_index(self, step_id: str) -> int:
        for step in self.steps:
            if step.id == step_id:
                return step.index
        raise KeyError(step_id)

    def param_values(self, overrides: dict[str, Any] | None = None, recall=None) -> dict[str, Any]:
        """Defaults, then journal recall, then overrides (already checked)."""
        values = {}
        for p in self.params.values():
            value = p.default
            if p.recall and recall is not None:
                kind, _, fld = p.recall.partition(".")
                remembered = recall(kind, fld)
                if remembered is not None and type(remembered) is type(p.default) or (
                    isinstance(remembered, (int, float)) and isinstance(p.default, (int, float)) and not isinstance(remembered, bool)
                ):
                    value = _clamp(remembered, p)
            values[p.name] = value
        values.update(overrides or {})
        return values

    def parse_param(self, assignment: str) -> tuple[str, Any]:
        """``NAME=VALUE`` from ``--set``, checked against the declared parameter."""
        name, sep, raw = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ScriptError(f"--set takes NAME=VALUE, not {assignment!r}", self.file)
        if name not in self.params:
            known = ", ".join(sorted(self.params)) or "none"
            raise ScriptError(f"script '{self.id}' has no parameter '{name}' (parameters: {known})", self.file)
        p = self.params[name]
        try:
            value = load_yaml(raw, "--set") if raw.strip() else None
        except ScriptError:
            value = raw
        except Exception:  # noqa: BLE001 - any YAML problem: treat as text
            value = raw
        default = p.default
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ScriptError(f"--set {name}: expected true or false, not {raw!r}", self.file)
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ScriptError(f"--set {name}: expected a number, not {raw!r}", self.file)
            if (p.min is not None and value < p.min) or (p.max is not None and value > p.max):
                raise ScriptError(f"--set {name}: {value} is outside {p.min:g}..{p.max:g}", self.file)
            if isinstance(default, int) and float(value).is_integer():
                value = int(value)
        elif isinstance(default, str):
            value = str(raw)
        return name, value


def _clamp(value: Any, p: Param) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if p.min is not None:
            value = max(value, p.min)
        if p.max is not None:
            value = min(value, p.max)
        if isinstance(p.default, int):
            value = int(round(value))
    return value


# --------------------------------------------------------------------------------------------
# Parsing and validation


class _Problems:
    def __init__(self, file: str):
        self.file = file
        self.items: list[ScriptError] = []

    def add(self, message: str, line: int | None) -> None:
        self.items.append(ScriptError(message, self.file, line))


_TOP = {
    "id", "title", "description", "source", "techniques", "intents", "slots", "voice", "params",
    "journal", "bedtime", "steps", "follow_up",
}
_COMMON = {"id", "when", "pause", "voice"}
_KEYS: dict[StepKind, set[str]] = {
    StepKind.SAY: set(),
    StepKind.PAUSE: set(),
    StepKind.BREATHE: {"cycles", "minutes", "counting"},
    StepKind.ASK: {"as", "timeout", "reprompt", "optional", "mode", "expects", "replies", "again"},
    StepKind.RATE: {"as", "timeout", "reprompt", "optional", "scale"},
    StepKind.COLLECT: {"as", "count", "timeout", "encourage", "done"},
    StepKind.CHOOSE: {"as", "options", "timeout", "default", "reprompt", "expects"},
    StepKind.NOTICE: {"patterns", "as", "none"},
    StepKind.WAIT: {"checkin"},
    StepKind.SAVE: set(),
    StepKind.GOTO: {"times"},
    StepKind.END: set(),
}
_OPTION_KEYS = {"match", "intent", "goto", "start", "end", "say", "label"}
PATTERN_SETS = ("thinking_traps", "core_beliefs")


def parse_script(data: Any, file: str) -> tuple[Script | None, list[ScriptError]]:
    """Build a Script from loaded YAML, collecting every problem. The script is None when a
    problem makes it unusable."""
    pr = _Problems(file)
    if not isinstance(data, dict):
        pr.add("a script must be a mapping with id, title, description, source and steps", line_of(data) or 1)
        return None, pr.items
    for key in data:
        if key not in _TOP:
            pr.add(f"unknown field '{key}' (fields: {', '.join(sorted(_TOP))})", line_of(data, key))
    for key in ("id", "title", "description", "source"):
        if key not in data:
            pr.add(f"missing required field '{key}'", line_of(data))
        elif not isinstance(data[key], str) or not data[key].strip():
            pr.add(f"'{key}' must be non-empty text", line_of(data, key))
    sid = data.get("id") if isinstance(data.get("id"), str) else ""
    if sid and not SCRIPT_ID.match(sid):
        pr.add(f"id '{sid}' must be lower-case words joined by '-'", line_of(data, "id"))

    params = _parse_params(data.get("params"), data, pr)
    voice = _parse_voice(data.get("voice"), data, pr)
    techniques = _str_list(data.get("techniques"), "techniques", data, pr)
    intents = _str_list(data.get("intents"), "intents", data, pr)
    slots = data.get("slots") or {}
    if not isinstance(slots, dict):
        pr.add("'slots' must be a mapping", line_of(data, "slots"))
        slots = {}
    journal = data.get("journal")
    if journal is not None and (not isinstance(journal, str) or not NAME.match(journal)):
        pr.add("'journal' must be an entry kind like thought_record", line_of(data, "journal"))
        journal = None
    bedtime = data.get("bedtime", False)
    if not isinstance(bedtime, bool):
        pr.add("'bedtime' must be true or false", line_of(data, "bedtime"))
        bedtime = False

    raw_steps = data.get("steps")
    steps: list[Step] = []
    if raw_steps is None:
        pr.add("missing required field 'steps'", line_of(data))
    elif not isinstance(raw_steps, list) or not raw_steps:
        pr.add("'steps' must be a non-empty list", line_of(data, "steps"))
    else:
        for i, raw in enumerate(raw_steps):
            line = line_of(raw_steps, i)
            step = _parse_step(raw, i, line, params, pr)
            # An unusable step keeps its place, so later checks still name the right lines.
            steps.append(step if step is not None else Step(StepKind.PAUSE, i, line))
    script = Script(
        id=sid or "?",
        title=str(data.get("title", "")),
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
        steps=steps,
        techniques=tuple(techniques),
        intents=tuple(intents),
        slots=dict(slots),
        voice=voice,
        params=params,
        journal=journal,
        bedtime=bedtime,
        file=file,
        follow_up=parse_follow_up(data.get("follow_up"), pr.add),
    )
    if steps:
        _check_flow(script, pr)
    if script.follow_up is not None:
        check_follow_up(script.follow_up, journal, (s.name for s in steps if s.name), pr.add)
    usable = not pr.items
    return (script if usable else None), pr.items


def _str_list(value: Any, key: str, data: Any, pr: _Problems) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        pr.add(f"'{key}' must be a list of names", line_of(data, key))
        return []
    return list(value)


_VOICE_RANGES = {"rate": (0.3, 2.5), "volume": (0.05, 1.5), "pitch": (0.5, 2.0),
                 "sentence_pause": (0.0, 5.0), "fade": (0.0, 1.0)}


def _parse_voice(value: Any, data: Any, pr: _Problems, where: str = "voice") -> ScriptVoice:
    keys = ("rate", "volume", "pitch", "sentence_pause", "fade", "voice")
    if value is None:
        return ScriptVoice()
    if not isinstance(value, dict):
        pr.add(f"'{where}' must be a mapping with {', '.join(keys)}", line_of(data, "voice"))
        return ScriptVoice()
    out: dict[str, Any] = {}
    for key, v in value.items():
        line = line_of(value, key)
        if key in _VOICE_RANGES:
            lo, hi = _VOICE_RANGES[key]
            what = "seconds" if key == "sentence_pause" else "a fraction" if key == "fade" else "a multiplier"
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                pr.add(f"{where}.{key} must be a number from {lo} to {hi} ({what})", line)
            else:
                out[key] = float(v)
        elif key == "voice":
            if v is not None and not isinstance(v, str):
                pr.add(f"{where}.voice must be a voice name", line)
            else:
                out[key] = v
        else:
            pr.add(f"unknown voice setting '{key}' ({', '.join(keys)})", line)
    return ScriptVoice(**out)


def _parse_params(value: Any, data: Any, pr: _Problems) -> dict[str, Param]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        pr.add("'params' must be a mapping of name: default", line_of(data, "params"))
        return {}
    out: dict[str, Param] = {}
    for name, spec in value.items():
        line = line_of(value, name)
        if not isinstance(name, str) or not NAME.match(name):
            pr.add(f"parameter name {name!r} must be lower_case", line)
            continue
        if isinstance(spec, dict):
            unknown = set(spec) - {"default", "min", "max", "recall", "help"}
            for k in unknown:
                pr.add(f"parameter '{name}': unknown key '{k}' (default, min, max, recall, help)", line_of(spec, k))
            if "default" not in spec:
                pr.add(f"parameter '{name}' needs a default", line)
                continue
            default = spec["default"]
            lo, hi = spec.get("min"), spec.get("max")
            for k, v in (("min", lo), ("max", hi)):
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                    pr.add(f"parameter '{name}': {k} must be a number", line_of(spec, k))
            recall = spec.get("recall")
            if recall is not None and (not isinstance(recall, str) or recall.count(".") != 1):
                pr.add(f"parameter '{name}': recall must be KIND.FIELD", line_of(spec, "recall"))
                recall = None
            param = Param(name, default, lo if isinstance(lo, (int, float)) else None,
                          hi if isinstance(hi, (int, float)) else None, recall, str(spec.get("help", "")))
        else:
            param = Param(name, spec)
        if not isinstance(param.default, (bool, int, float, str)):
            pr.add(f"parameter '{name}': the default must be a number, true/false or text", line)
            continue
        out[name] = param
    return out


def _texts(value: Any, what: str, line: int | None, pr: _Problems, required: bool = True) -> tuple[str, ...]:
    if value is None:
        if required:
            pr.add(f"{what} needs text", line)
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        pr.add(f"{what} must be text or a list of texts", line)
        return ()
    return tuple(v.strip() for v in value)


def _number(value: Any, what: str, line: int | None, params: dict[str, Param], pr: _Problems,
            lo: float = 0.0, hi: float = 1e6, allow_none: bool = False) -> Value:
    if value is None:
        if not allow_none:
            pr.add(f"{what} needs a number", line)
        return None
    if isinstance(value, str):
        m = REF.match(value.strip())
        if not m:
            pr.add(f"{what} must be a number or \"{{parameter}}\", not {value!r}", line)
            return None
        ref = m.group(1)
        if ref not in params:
            pr.add(f"{what} refers to undeclared parameter '{ref}'", line)
            return None
        default = params[ref].default
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            pr.add(f"{what} refers to parameter '{ref}', which is not a number", line)
            return None
        return "{" + ref + "}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        pr.add(f"{what} must be a number, not {value!r}", line)
        return None
    if not lo <= value <= hi:
        pr.add(f"{what} must be between {lo:g} and {hi:g}, not {value}", line)
        return None
    return value


def _flag(value: Any, what: str, line: int | None, params: dict[str, Param], pr: _Problems) -> Value:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        m = REF.match(value.strip())
        if m and m.group(1) in params:
            return "{" + m.group(1) + "}"
        if m:
            pr.add(f"{what} refers to undeclared parameter '{m.group(1)}'", line)
            return False
    pr.add(f"{what} must be true, false or \"{{parameter}}\"", line)
    return False


def _parse_when(value: Any, line: int | None, pr: _Problems) -> Condition | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        cmp = re.fullmatch(r"([a-z_][a-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*([a-z_][a-z0-9_]*)", text)
        if cmp:
            return Condition(cmp.group(1), op=cmp.group(2), other=cmp.group(3))
        negate = text.startswith("not ")
        name = text[4:].strip() if negate else text
        if not NAME.match(name):
            pr.add(f"when: {value!r} must be a name, 'not name' or a comparison 'a < b'", line)
            return None
        return Condition(name, negate)
    if isinstance(value, dict) and len(value) == 1:
        (name, vals), = value.items()
        if not isinstance(name, str) or not NAME.match(name):
            pr.add(f"when: {name!r} must be a name", line)
            return None
        vals = tuple(vals) if isinstance(vals, list) else (vals,)
        return Condition(name, False, vals)
    pr.add("when: must be 'name', 'not name' or {name: value}", line)
    return None


_ASK_EXPECTS = {"free_text", "kind_words", "yes_no", "safety", "risk"}
_CHOOSE_EXPECTS = {"choice", "yes_no"}


def _parse_expects(value: Any, kind: StepKind, line: int | None, pr: _Problems) -> str | None:
    from voicecoach.answers import READINGS

    allowed = _ASK_EXPECTS if kind == StepKind.ASK else _CHOOSE_EXPECTS
    if value not in allowed or value not in READINGS:
        pr.add(f"expects must be one of {', '.join(sorted(allowed))} for {kind.value}", line)
        return None
    return str(value)


def _parse_replies(raw: dict, expects: str, pr: _Problems) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    from voicecoach.answers import READINGS

    readings = READINGS.get(expects, ())
    replies: dict[str, tuple[str, ...]] = {}
    value = raw.get("replies")
    if value is not None:
        if not isinstance(value, dict):
            pr.add("replies must map a reading to what to say, e.g. {unkind: ...}", line_of(raw, "replies"))
        else:
            for reading, text in value.items():
                if reading not in readings:
                    pr.add(f"replies: {reading!r} is not a reading of {expects} answers ({', '.join(readings)})",
                           line_of(value, reading))
                    continue
                replies[reading] = _texts(text, f"replies.{reading}", line_of(value, reading), pr)
    again = raw.get("again", [])
    if isinstance(again, str):
        again = [again]
    if not isinstance(again, list) or not all(isinstance(a, str) for a in again):
        pr.add("again must be a list of readings", line_of(raw, "again"))
        return replies, ()
    for a in again:
        if a not in readings:
            pr.add(f"again: {a!r} is not a reading of {expects} answers ({', '.join(readings)})", line_of(raw, "again"))
    return replies, tuple(a for a in again if a in readings)


def _parse_step(raw: Any, i: int, line: int | None, params: dict[str, Param], pr: _Problems) -> Step | None:
    if raw == "end":
        return Step(StepKind.END, i, line)
    if not isinstance(raw, dict):
        pr.add(f"step {i + 1} must be a mapping like '- say: text' (or the word end)", line)
        return None
    kinds = [k for k in raw if k in StepKind._value2member_map_]
    if len(kinds) > 1 and "pause" in kinds:
        kinds.remove("pause")  # with another kind, pause is the silence after it
    if len(kinds) != 1:
        if not kinds:
            unknown = [k for k in raw if k not in _COMMON and not any(k in s for s in _KEYS.values())]
            what = f"unknown step kind '{unknown[0]}'" if unknown else "no step kind"
            pr.add(f"step {i + 1}: {what} (kinds: {', '.join(k.value for k in StepKind)})", line)
        else:
            pr.add(f"step {i + 1}: one kind per step, found {', '.join(kinds)}", line)
        return None
    kind = StepKind(kinds[0])
    arg = raw[kinds[0]]
    kline = line_of(raw, kinds[0])
    allowed = _COMMON | _KEYS[kind] | {kind.value}
    if kind == StepKind.PAUSE:
        allowed = allowed - {"pause"} | {"pause"}
    for key in raw:
        if key not in allowed:
            pr.add(f"step {i + 1} ({kind.value}): unknown key '{key}' (allowed: {', '.join(sorted(allowed - {kind.value}))})",
                   line_of(raw, key))
    step = Step(kind, i, line)
    sid = raw.get("id")
    if sid is not None:
        if not isinstance(sid, str) or not re.match(r"^[a-z0-9_-]+$", sid):
            pr.add(f"step id {sid!r} must be lower-case letters, digits, - or _", line_of(raw, "id"))
        else:
            step.id = sid
    step.when = _parse_when(raw.get("when"), line_of(raw, "when"), pr)
    if raw.get("voice") is not None:
        step.voice = _parse_voice(raw["voice"], raw, pr, where=f"step {i + 1} voice")
    step.pause = _number(raw.get("pause", 0), "pause", line_of(raw, "pause"), params, pr, 0, 3600)
    name = raw.get("as")
    if name is not None and (not isinstance(name, str) or not NAME.match(name)):
        pr.add(f"'as' must be a lower_case answer name, not {name!r}", line_of(raw, "as"))
        name = None
    step.name = name
    if "timeout" in raw:
        step.timeout = _number(raw["timeout"], "timeout", line_of(raw, "timeout"), params, pr, 1, 3600)

    if kind == StepKind.SAY:
        step.text = _texts(arg, "say", kline, pr)
    elif kind == StepKind.PAUSE:
        step.seconds = _number(arg, "pause", kline, params, pr, 0, 3600)
    elif kind == StepKind.BREATHE:
        step.phases = _parse_phases(arg, kline, params, pr)
        if "cycles" in raw:
            step.cycles = _number(raw["cycles"], "cycles", line_of(raw, "cycles"), params, pr, 1, 1000)
        if "minutes" in raw:
            step.minutes = _number(raw["minutes"], "minutes", line_of(raw, "minutes"), params, pr, 0.1, 240)
        if step.cycles is None and step.minutes is None:
            step.cycles = 1
        step.counting = _flag(raw.get("counting", False), "counting", line_of(raw, "counting"), params, pr)
    elif kind in (StepKind.ASK, StepKind.RATE, StepKind.COLLECT, StepKind.CHOOSE):
        step.text = _texts(arg, kind.value, kline, pr)
        if kind != StepKind.CHOOSE and not step.name:
            pr.add(f"{kind.value} needs 'as: name' to store the answer", line)
        step.reprompt = _texts(raw.get("reprompt"), "reprompt", line_of(raw, "reprompt"), pr, required=False)
        opt = raw.get("optional", False)
        if not isinstance(opt, bool):
            pr.add("optional must be true or false", line_of(raw, "optional"))
        step.optional = bool(opt) if isinstance(opt, bool) else False
        if "expects" in raw:
            step.expects = _parse_expects(raw["expects"], kind, line_of(raw, "expects"), pr)
        if kind == StepKind.ASK:
            step.replies, step.again = _parse_replies(raw, step.expects or "free_text", pr)
            mode = raw.get("mode", "dictation")
            if mode not in ("dictation", "command"):
                pr.add("mode must be dictation or command", line_of(raw, "mode"))
            step.mode = mode if mode in ("dictation", "command") else "dictation"
        if kind == StepKind.RATE:
            scale = raw.get("scale", [0, 10])
            if (not isinstance(scale, list) or len(scale) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in scale) or scale[0] >= scale[1]):
                pr.add("scale must be [low, high] whole numbers, e.g. [0, 10]", line_of(raw, "scale"))
            else:
                step.scale = (scale[0], scale[1])
            step.mode = "command"
        if kind == StepKind.COLLECT:
            step.count = _number(raw.get("count", 1), "count", line_of(raw, "count"), params, pr, 1, 20)
            step.encourage = _texts(raw.get("encourage"), "encourage", line_of(raw, "encourage"), pr, required=False)
            step.done = _texts(raw.get("done"), "done", line_of(raw, "done"), pr, required=False)
        if kind == StepKind.CHOOSE:
            step.mode = "command"
            step.options = _parse_options(raw.get("options"), line_of(raw, "options") or line, pr)
            default = raw.get("default")
            if default is not None:
                if isinstance(default, bool) or not isinstance(default, int) or not 0 <= default < max(1, len(step.options)):
                    pr.add(f"default must be the index of an option (0..{max(0, len(step.options) - 1)})", line_of(raw, "default"))
                else:
                    step.default = default
    elif kind == StepKind.NOTICE:
        if not isinstance(arg, str) or not NAME.match(arg):
            pr.add("notice needs the name of an earlier answer", kline)
        else:
            step.target = arg
        pats = raw.get("patterns", "thinking_traps")
        if pats not in PATTERN_SETS:
            pr.add(f"patterns must be one of {', '.join(PATTERN_SETS)}", line_of(raw, "patterns"))
        else:
            step.patterns = pats
        step.none_text = _texts(raw.get("none"), "none", line_of(raw, "none"), pr, required=False)
    elif kind == StepKind.WAIT:
        if isinstance(arg, dict) and len(arg) == 1 and next(iter(arg)) in ("minutes", "seconds"):
            unit, amount = next(iter(arg.items()))
            val = _number(amount, f"wait {unit}", kline, params, pr, 0, 24 * 3600)
            step.seconds = val if unit == "seconds" else (None if val is None else ("min", val))
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            step.seconds = _number(arg, "wait", kline, params, pr, 0, 24 * 3600)
        else:
            pr.add("wait takes {minutes: N} or {seconds: N}", kline)
        step.checkin = _texts(raw.get("checkin"), "checkin", line_of(raw, "checkin"), pr, required=False)
    elif kind == StepKind.SAVE:
        if arg is True:
            pass
        elif isinstance(arg, dict):
            for k in arg:
                if k not in ("kind", "fields"):
                    pr.add(f"save: unknown key '{k}' (kind, fields)", line_of(arg, k))
            k = arg.get("kind")
            if not isinstance(k, str) or not NAME.match(k):
                pr.add("save needs kind: an entry kind like win", kline)
            step.save_kind = k if isinstance(k, str) else None
            flds = arg.get("fields", {})
            if not isinstance(flds, dict) or not all(isinstance(a, str) and isinstance(b, str) for a, b in flds.items()):
                pr.add("save fields must map journal field: answer name", line_of(arg, "fields"))
            else:
                step.save_fields = dict(flds)
        else:
            pr.add("save takes true, or {kind: K, fields: {field: answer}}", kline)
    elif kind == StepKind.GOTO:
        if not isinstance(arg, str):
            pr.add("goto needs a step id", kline)
        else:
            step.target = arg
        times = raw.get("times")
        if times is not None:
            if isinstance(times, bool) or not isinstance(times, int) or times < 1:
                pr.add("times must be a whole number of at least 1", line_of(raw, "times"))
            else:
                step.times = times
    elif kind == StepKind.END:
        if arg not in (True, None, "completed"):
            pr.add("end takes true", kline)
    return step


def _parse_phases(arg: Any, line: int | None, params: dict[str, Param], pr: _Problems) -> tuple[PhaseSpec, ...]:
    names = ", ".join(p.value for p in Phase)
    out: list[PhaseSpec] = []
    if isinstance(arg, dict):
        items = [(k, v, None, line_of(arg, k)) for k, v in arg.items()]
    elif isinstance(arg, list):
        items = []
        for j, ph in enumerate(arg):
            pl = line_of(arg, j)
            if not isinstance(ph, dict) or "phase" not in ph or "seconds" not in ph:
                pr.add("each phase needs phase: and seconds: (cue: optional)", pl)
                continue
            for k in ph:
                if k not in ("phase", "seconds", "cue"):
                    pr.add(f"phase: unknown key '{k}' (phase, seconds, cue)", line_of(ph, k))
            items.append((ph["phase"], ph["seconds"], ph.get("cue"), pl))
    else:
        pr.add(f"breathe takes phases: {{inhale: 4, exhale: 4}} or a list; phase names: {names}", line)
        return ()
    for name, seconds, cue, pl in items:
        if name not in Phase._value2member_map_:
            pr.add(f"unknown breathing phase '{name}' (phases: {names})", pl)
            continue
        sec = _number(seconds, f"phase {name}", pl, params, pr, 0.5, 60)
        if cue is not None and (not isinstance(cue, str) or not cue.strip()):
            pr.add("cue must be text", pl)
            cue = None
        phase = Phase(name)
        out.append(PhaseSpec(phase, sec if sec is not None else 1, cue or DEFAULT_CUES[phase]))
    if not out and items:
        return ()
    if not items:
        pr.add("breathe needs at least one phase", line)
    return tuple(out)


def _parse_options(value: Any, line: int | None, pr: _Problems) -> tuple[Option, ...]:
    if not isinstance(value, list) or not value:
        pr.add("choose needs options: a list of {match, intent, goto/start/end}", line)
        return ()
    out: list[Option] = []
    for j, raw in enumerate(value):
        ol = line_of(value, j)
        if not isinstance(raw, dict):
            pr.add("each option must be a mapping", ol)
            continue
        for k in raw:
            if k not in _OPTION_KEYS:
                pr.add(f"option: unknown key '{k}' ({', '.join(sorted(_OPTION_KEYS))})", line_of(raw, k))
        match = raw.get("match", [])
        if isinstance(match, (str, bool)):
            match = [match]
        if isinstance(match, list) and any(isinstance(m, bool) for m in match):
            pr.add("option match: yes/no/on/off read as true/false in YAML; quote them (\"yes\")", line_of(raw, "match"))
            match = [m for m in match if not isinstance(m, bool)]
        if not isinstance(match, list) or not all(isinstance(m, (str, int)) for m in match):
            pr.add("option match must be a list of words", line_of(raw, "match"))
            match = []
        intent = raw.get("intent")
        if not match and not intent:
            pr.add("option needs match words or an intent", ol)
        targets = [k for k in ("goto", "start", "end") if raw.get(k)]
        if len(targets) > 1:
            pr.add(f"option: choose one of goto, start, end (found {', '.join(targets)})", ol)
        say = _texts(raw.get("say"), "option say", line_of(raw, "say"), pr, required=False)
        words = tuple(str(m).lower().strip() for m in match)
        label = raw.get("label") or (words[0] if words else str(intent))
        out.append(Option(words, intent if isinstance(intent, str) else None,
                          raw.get("goto") if isinstance(raw.get("goto"), str) else None,
                          raw.get("start") if isinstance(raw.get("start"), str) else None,
                          raw.get("end") is True, say, str(label)))
    return tuple(out)


def _check_flow(script: Script, pr: _Problems) -> None:
    ids: dict[str, int] = {}
    for step in script.steps:
        if step.id:
            if step.id in ids:
                pr.add(f"duplicate step id '{step.id}'", step.line)
            ids[step.id] = step.index
    declared = set(script.params)
    asked: set[str] = set()
    extras = {"crisis_line_name", "crisis_line_spoken", "crisis_line_number", "crisis_line_text", "crisis_line_reach", "crisis_line_again",
              "emergency_number", "name", "script_title"}
    for step in script.steps:
        if step.kind == StepKind.GOTO and step.target not in ids:
            pr.add(f"goto target '{step.target}' is not a step id in this script", step.line)
        for opt in step.options:
            if opt.goto and opt.goto not in ids:
                pr.add(f"option goto target '{opt.goto}' is not a step id in this script", step.line)
        if step.kind == StepKind.NOTICE and step.target and step.target not in asked:
            pr.add(f"notice '{step.target}': no earlier step asks for it", step.line)
        for text in step.text + step.reprompt + step.done + step.checkin + step.none_text:
            for ref in TEXT_REF.findall(text):
                if ref not in declared and ref not in extras and ref not in asked and ref not in _STEP_VARS:
                    if not any(s.name == ref for s in script.steps):
                        pr.add(f"text refers to '{{{ref}}}', which no parameter or answer names", step.line)
        if step.name:
            asked.add(step.name)
        if script.bedtime and step.kind in LISTENING_KINDS:
            pr.add(f"bedtime scripts must not ask anything ({step.kind.value})", step.line)
    if not any(s.name for s in script.steps) and script.journal:
        pass
    _check_loops(script, ids, pr)


_STEP_VARS = {"got", "left", "count", "items", "minutes", "seconds", "question"}


def _check_loops(script: Script, ids: dict[str, int], pr: _Problems) -> None:
    """A cycle made only of unconditional steps and plain gotos never ends."""
    n = len(script.steps)

    def successors(i: int) -> list[int]:
        s = script.steps[i]
        if s.kind == StepKind.END:
            return []
        if s.kind == StepKind.GOTO and s.target in ids:
            return [ids[s.target]] if s.times is None else [ids[s.target], i + 1]
        return [i + 1]

    def exits(i: int) -> bool:
        s = script.steps[i]
        return (s.when is not None or s.kind in (StepKind.CHOOSE, StepKind.END)
                or (s.kind == StepKind.GOTO and s.times is not None))

    # Follow the single-successor chain from every goto; a return to the start with no step
    # on the way that can leave is an endless loop.
    for start in range(n):
        s = script.steps[start]
        if s.kind != StepKind.GOTO or s.target not in ids or exits(start):
            continue
        seen = set()
        i = ids[s.target]
        escapes = False
        while 0 <= i < n and i not in seen:
            seen.add(i)
            if exits(i):
                escapes = True
                break
            nxt = successors(i)
            if len(nxt) != 1:
                escapes = True
                break
            i = nxt[0]
        if not escapes and (i in seen):
            pr.add(f"loop without an exit: goto '{s.target}' comes back here with no choose, when or times on the way", s.line)


# --------------------------------------------------------------------------------------------
# Files and the library


def load_script_text(text: str, file: str) -> tuple[Script | None, list[ScriptError]]:
    try:
        data = load_yaml(text, file, ScriptError)
    except ScriptError as exc:
        return None, [exc]
    return parse_script(data, file)


def load_script_file(path: Path) -> tuple[Script | None, list[ScriptError]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [ScriptError("not a UTF-8 text file", str(path))]
    except OSError as exc:
        return None, [ScriptError(f"cannot read: {exc.strerror or exc}", str(path))]
    return load_script_text(text, str(path))


def builtin_dir() -> Path:
    return data_path("scripts")


class Library:
    """Built-in scripts with the user's scripts laid over them."""

    def __init__(self, scripts: dict[str, Script], problems: list[ScriptError]):
        self.scripts = scripts
        self.problems = problems
        """Problems in user files (those files are skipped, never fatal)."""

    @classmethod
    def load(cls, home: Path | None = None) -> Library:
        scripts: dict[str, Script] = {}
        problems: list[ScriptError] = []
        for path in sorted(builtin_dir().glob("*.yaml")):
            script, errs = load_script_file(path)
            if script is None:
                # A broken built-in is a bug: surface it loudly.
                raise errs[0]
            scripts[script.id] = script
        if home is not None and (home / "scripts").is_dir():
            for path in sorted((home / "scripts").glob("*.y*ml")):
                script, errs = load_script_file(path)
                if script is None:
                    problems.extend(errs)
                    continue
                if script.id in PROTECTED:
                    problems.append(ScriptError(f"'{script.id}' is built in and cannot be replaced; file ignored", str(path), 1))
                    continue
                scripts[script.id] = script
        lib = cls(scripts, problems)
        for s in list(scripts.values()):
            errs = lib.check_starts(s)
            if errs and s.file.startswith(str(builtin_dir())):
                raise errs[0]
            if errs:
                problems.extend(errs)
                del scripts[s.id]
        return lib

    def check_starts(self, script: Script) -> list[ScriptError]:
        out = []
        for step in script.steps:
            for opt in step.options:
                if opt.start and opt.start not in self.scripts:
                    out.append(ScriptError(f"option starts unknown script '{opt.start}'", script.file, step.line))
        return out

    def get(self, ref: str) -> Script:
        """A script by id, or by the path of a YAML file."""
        if ref in self.scripts:
            return self.scripts[ref]
        if ref.endswith((".yaml", ".yml")) or "/" in ref:
            path = Path(ref)
            if not path.exists():
                raise ScriptError("no such script file", ref)
            script, errs = load_script_file(path)
            if script is None:
                raise errs[0]
            return script
        known = ", ".join(sorted(self.scripts))
        raise ScriptError(f"unknown script '{ref}' (known: {known})", None)

    def for_intent(self, intent: str, slots: dict[str, Any] | None = None) -> Script | None:
        """The script an intent starts. A script that declares slots starts only when they
        were said (``breathe`` + pattern 478 → breathing-478); one without is the default."""
        slots = slots or {}
        specific = [s for s in self.scripts.values()
                    if intent in s.intents and s.slots and all(slots.get(k) == v for k, v in s.slots.items())]
        if specific:
            return specific[0]
        general = [s for s in self.scripts.values() if intent in s.intents and not s.slots]
        return general[0] if general else None


def validate_files(paths: list[Path], library: Library | None = None) -> list[ScriptError]:
    """Every problem in the given files, as ScriptErrors naming file:line."""
    problems: list[ScriptError] = []
    for path in paths:
        script, errs = load_script_file(Path(path))
        problems.extend(errs)
        if script is not None and library is not None:
            problems.extend(library.check_starts(script))
    return problems

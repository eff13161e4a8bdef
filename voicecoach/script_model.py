"""The script model: what a guided session is made of (steps, options, parameters, voice).
The YAML format is in docs/scripts.md; :mod:`voicecoach.script_parser` builds these from it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from voicecoach.errors import ScriptError
from voicecoach.followup import FollowUp
from voicecoach.types import Phase
from voicecoach.yamlio import load_yaml

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

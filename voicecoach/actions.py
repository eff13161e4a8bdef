"""What the dialogue engine asks its runner to do (speak, hush, record...), what it waits for,
and how it is set up. Runners read these; they never reach into the engine."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from voicecoach.script_model import Step, StepKind
from voicecoach.tts.base import VoiceSettings
from voicecoach.types import Cue


@dataclass(frozen=True)
class Speak:
    """Start this cue now (its ``t`` is the scheduled time; the runner starts it at once)."""

    cue: Cue
    settings: VoiceSettings


@dataclass(frozen=True)
class Hush:
    """Cut any speech now."""


@dataclass(frozen=True)
class Answer:
    """The person answered: record it (the journal writes it at once)."""

    name: str
    value: Any
    kind: str | None
    """The script's journal entry kind, if it keeps one."""


@dataclass(frozen=True)
class Complete:
    """The script's journal entry is complete."""

    kind: str


@dataclass(frozen=True)
class Entry:
    """Write a separate journal entry (a win, say)."""

    kind: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class StepStarted:
    """A step began (for the terminal display)."""

    step: Step
    label: str


@dataclass(frozen=True)
class StartScript:
    """When this script has ended, start another."""

    script_id: str


@dataclass(frozen=True)
class Ended:
    """The script finished: ``completed`` or ``stopped``."""

    status: str


Action = Speak | Hush | Answer | Complete | Entry | StepStarted | StartScript | Ended


@dataclass(frozen=True)
class Listening:
    """What the engine is waiting to hear."""

    name: str
    """The answer's name (or the step label for choose)."""
    kind: StepKind
    mode: str
    """dictation (free text) or command (a closed set: numbers, options)."""
    since: float
    deadline: float | None
    scale: tuple[int, int] | None = None
    options: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# What a step generator yields.


@dataclass(frozen=True)
class Until:
    t: float


@dataclass(frozen=True)
class Input:
    listening: Listening


Wait = Until | Input
StepGen = Generator[Wait, Any, Any]


@dataclass
class EngineOptions:
    """How an engine behaves for its runner."""

    answer_timeout: float | None = 25.0
    """Seconds to wait for an answer; None waits for ever (scripted chat)."""
    recall: Callable[[str, str], Any] | None = None
    """Journal look-up for parameter ``recall``."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Values scripts may speak (crisis line, ...)."""
    parse_number: Callable[[str, tuple[int, int]], int | None] | None = None
    find_patterns: Callable[[str, str], list[Any]] | None = None

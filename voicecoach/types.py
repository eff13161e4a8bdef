"""What flows between the parts: audio, transcripts, intents and spoken cues."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


@dataclass(frozen=True)
class AudioChunk:
    """A piece of PCM audio."""

    rate: int
    """Samples per second."""
    samples: np.ndarray
    """int16 samples, shape (frames,) for mono or (frames, channels)."""

    @property
    def channels(self) -> int:
        """Number of interleaved channels."""
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def width(self) -> int:
        """Bytes per sample."""
        return int(self.samples.dtype.itemsize)

    @property
    def frames(self) -> int:
        """Samples per channel."""
        return int(self.samples.shape[0])

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.frames / float(self.rate) if self.rate else 0.0

    def to_bytes(self) -> bytes:
        """Little-endian PCM bytes."""
        return self.samples.astype("<i2", copy=False).tobytes()

    @classmethod
    def silence(cls, seconds: float, rate: int = 16000) -> AudioChunk:
        """A chunk of silence."""
        return cls(rate, np.zeros(int(round(seconds * rate)), dtype=np.int16))


@dataclass(frozen=True)
class Word:
    """One recognised word with its time in the audio."""

    word: str
    start: float
    """Seconds from the start of the utterance."""
    end: float
    confidence: float = 1.0


@dataclass(frozen=True)
class Transcript:
    """What a recogniser heard."""

    text: str
    """Lower-case words, no punctuation."""
    confidence: float = 1.0
    """0..1; engines without a score report 1.0."""
    words: tuple[Word, ...] = ()
    final: bool = True
    """False for a partial result while the person is still speaking."""
    alternatives: tuple[str, ...] = ()
    """Other readings of the same audio the decoder kept (its beam), best first; engines
    without an n-best list leave it empty."""


@dataclass(frozen=True)
class IntentMatch:
    """What an utterance asks for."""

    name: str | None
    """The intent, or None when no intent reached the confidence threshold."""
    confidence: float
    """0..1."""
    slots: dict[str, object] = field(default_factory=dict)
    """Values named by the templates (pattern, number, minutes, topic...)."""
    best: str | None = None
    """The best guess even below the threshold."""
    crisis: bool = False
    """True when the crisis screen fired; then name is "crisis"."""
    text: str = ""
    """The utterance as matched."""

    @property
    def flagged(self) -> bool:
        """A crisis statement, or one the screen is unsure of ("crisis_check": the coach asks
        directly). Unclear is read as unsafe, so both are flagged."""
        return self.crisis or self.name == "crisis_check"


class Phase(str, Enum):
    """The phases of a breath."""

    INHALE = "inhale"
    HOLD_IN = "hold_in"
    EXHALE = "exhale"
    HOLD_OUT = "hold_out"


@dataclass(frozen=True)
class Cue:
    """One thing the coach says, placed on the session clock."""

    t: float
    """Seconds from the session start when the sound begins."""
    duration: float
    """Seconds of speech (already cut to fit its slot)."""
    text: str
    phase: str | None = None
    """Breathing phase name for breathing cues, else None."""
    max_duration: float | None = None
    """If set, the sound is cut at this many seconds so it never pushes the next beat."""
    step: str | None = None
    """Id of the script step that produced it."""

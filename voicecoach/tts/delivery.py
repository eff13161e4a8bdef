"""Calm delivery as data: how a script's and a step's ``voice:`` settings become the
:class:`VoiceSettings` of each cue, how a phase cue is fitted into its beat, and the validator's
warning when a cue is likely longer than its phase."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from voicecoach.tts.base import VoiceSettings

MAX_SPEEDUP = 1.35
"""At most this much faster than the script's rate to fit a phase cue into its beat; beyond it
the cue is cut at the next beat instead (and the validator warns)."""
FIT_MARGIN = 0.92
"""A fitted cue ends by this fraction of its slot, so the next beat starts after a breath."""
FADE_STEP = 0.05
"""Fade levels are rounded to this, so a long fade reuses a few cached cues."""


def settings_for(script_voice: Any, step_voice: Any, rate: float, volume: float, fade: float = 1.0) -> VoiceSettings:
    """The settings of one cue. ``rate`` and ``volume`` are the running engine's (the script's
    multipliers times the configured base, changed by "slower" or "quieter"); ``script_voice``
    and ``step_voice`` are :class:`voicecoach.scripts.ScriptVoice` (the step's may be None) and
    give pitch, sentence pauses and the step's own multipliers. ``fade`` scales the volume."""
    pitch = float(getattr(script_voice, "pitch", 1.0))
    pause = float(getattr(script_voice, "sentence_pause", None) or 0.0)
    voice = getattr(script_voice, "voice", None)
    if step_voice is not None:
        rate *= step_voice.rate
        volume *= step_voice.volume
        pitch *= step_voice.pitch
        if step_voice.sentence_pause is not None:
            pause = step_voice.sentence_pause
        voice = step_voice.voice or voice
    return VoiceSettings(rate=round(rate, 4), volume=round(volume * fade, 4), voice=voice,
                         pitch=round(pitch, 4), sentence_pause=round(pause, 3))


def fade_level(progress: float, fade_to: float | None) -> float:
    """The volume factor at ``progress`` (0 → 1) through a step that fades to ``fade_to``."""
    if fade_to is None:
        return 1.0
    level = 1.0 - (1.0 - fade_to) * min(1.0, max(0.0, progress))
    return round(round(level / FADE_STEP) * FADE_STEP, 4)


def fit(text: str, settings: VoiceSettings, seconds: float,
        length: Callable[[str, VoiceSettings], float]) -> tuple[VoiceSettings, float]:
    """Settings under which ``text`` fits into ``seconds`` (a phase's beat), and its length.
    A cue that fits already is unchanged; a longer one is spoken faster, up to MAX_SPEEDUP."""
    n = length(text, settings)
    room = seconds * FIT_MARGIN
    if n <= seconds or n <= 0:
        return settings, n
    factor = min(MAX_SPEEDUP, n / room)
    faster = replace(settings, rate=round(settings.rate * factor, 4))
    m = length(text, faster)
    return (faster, m) if m < n else (settings, n)

"""Which fixed cues (breathing words and counts, and the lines a script opens with) a script will
ask the voice for, so they can be made before a session and kept on disk
(:mod:`voicecoach.tts.cues`): a live session then never waits on the synthesiser for them, and a
reply that starts a script starts without synthesis."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voicecoach.errors import VoicecoachError
from voicecoach.script_model import REF, StepKind
from voicecoach.script_text import COUNT_WORDS, fill
from voicecoach.tts.base import VoiceSettings
from voicecoach.tts.cues import DiskCues
from voicecoach.tts.delivery import fade_level, fit, settings_for


def fixed_cues(script: Any, length: Callable[[str, VoiceSettings], float], base: VoiceSettings | None = None,
               params: dict[str, Any] | None = None) -> list[tuple[str, VoiceSettings]]:
    """The (text, settings) of a script's breathing cues and counts, as the engine will ask
    for them at the normal pace (the same delivery, fade levels and fitting into the beat).
    ``length`` gives a cue's seconds (it fits cues into their beat)."""
    base = base or VoiceSettings()
    values = {n: p.default for n, p in script.params.items()}
    values.update(params or {})

    def number(v: Any) -> float | None:
        if isinstance(v, str):
            m = REF.match(v)
            v = values.get(m.group(1)) if m else None
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    out: dict[tuple[str, VoiceSettings], None] = {}
    rate = script.voice.rate * base.rate
    volume = script.voice.volume * base.volume
    for step in script.steps:
        if step.kind != StepKind.BREATHE:
            continue
        phases = [(spec, number(spec.seconds) or 1.0) for spec in step.phases]
        counting = step.counting
        if isinstance(counting, str):
            m = REF.match(counting)
            counting = values.get(m.group(1)) if m else False
        fade_to = step.voice.fade if step.voice is not None else None
        cycles = number(step.cycles)
        if cycles is None:
            total = sum(s for _, s in phases) or 1.0
            cycles = max(1, round((number(step.minutes) or 1.0) * 60 / total))
        levels = sorted({fade_level(c / max(1, cycles - 1), fade_to) for c in range(int(cycles))})
        for fade in levels:
            settings = settings_for(script.voice, step.voice, rate, volume, fade)
            for spec, seconds in phases:
                text = fill(spec.cue, values)
                fitted, _ = fit(text, settings, seconds, length)
                out[(text, fitted)] = None
                if counting:
                    for k in range(1, int(math.floor(seconds + 1e-9))):
                        word = COUNT_WORDS[k] if k < len(COUNT_WORDS) else str(k + 1)
                        fitted, _ = fit(word, settings, min(1.0, seconds - k), length)
                        out[(word, fitted)] = None
    return list(out)


def opening_cues(script: Any, length: Callable[[str, VoiceSettings], float],
                 base: VoiceSettings | None = None) -> list[tuple[str, VoiceSettings]]:
    """The (text, settings) of the cues a script says as soon as it starts (with its default
    parameters), asked of ``length`` exactly as the engine asks when the coach starts it."""
    from voicecoach.engine import Engine, EngineOptions

    asked: list[tuple[str, VoiceSettings]] = []

    def record(text: str, settings: VoiceSettings) -> float:
        asked.append((text, settings))
        return length(text, settings)

    base = base or VoiceSettings()
    engine = Engine(script, record, {}, EngineOptions(extras={"script_title": script.title}))
    engine.rate *= base.rate
    engine.volume *= base.volume
    engine.start(0.0)
    return asked


def warm(voice: Any, scripts: list[Any], base: VoiceSettings | None = None, root: Path | None = None,
         lines: tuple[str, ...] = ()) -> DiskCues:
    """Warm ``voice`` with the fixed cues of ``scripts`` and the coach's own fixed ``lines`` (said
    with ``base``), from disk, or made and stored."""
    disk = DiskCues(getattr(voice, "inner", voice), root)
    if disk.voice.name == "silent":
        return disk
    for script in scripts:
        try:
            for text, settings in fixed_cues(script, disk.seconds, base):
                disk.chunk(text, settings)
            opening_cues(script, disk.seconds, base)  # each asked of the disk cache, so made
        except VoicecoachError as exc:
            # Not fatal: the session synthesises (or prints) that cue when it comes.
            disk.failed.append(f"{script.id}: {exc}")
    for text in lines:
        try:
            disk.chunk(text, base or VoiceSettings())
        except VoicecoachError as exc:
            disk.failed.append(f"{text[:40]}: {exc}")  # said (or printed) when it comes
    return disk

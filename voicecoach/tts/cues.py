"""Fixed cues ("Breathe in", "Hold", the counts) kept on disk per voice and settings, and warmed
into the voice's memory cache before a session, so a live session never waits on the
synthesiser for them.

Only a script's fixed breathing words are stored: never anything built from what the person
said. The files live in the user cache directory (``$VOICECOACH_CACHE``, else e.g.
``~/.cache/voicecoach/cues``), one folder per voice (engine, voice, rate, volume), one WAV per
(text, settings). Deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import Any

from voicecoach.audio import atomic_write_bytes, decode_wav, encode_wav
from voicecoach.errors import VoicecoachError
from voicecoach.tts.base import VoiceSettings, clean
from voicecoach.tts.delivery import fade_level, fit, settings_for

FORMAT = 1
"""Bumped when the way cues are synthesised changes, so old files are not reused."""


def cache_dir() -> Path:
    """``$VOICECOACH_CACHE``, else the platform's user cache directory + ``/cues``."""
    env = os.environ.get("VOICECOACH_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("voicecoach", appauthor=False)) / "cues"


class DiskCues:
    """One voice's folder of cue WAVs."""

    def __init__(self, voice: Any, root: Path | None = None):
        self.voice = voice
        ident = f"{FORMAT}|{getattr(voice, 'identity', voice.name)}"
        self.dir = (root or cache_dir()) / hashlib.sha256(ident.encode()).hexdigest()[:16]
        self.loaded = 0
        """Cues read from disk."""
        self.made = 0
        """Cues synthesised (and written)."""
        self.failed: list[str] = []
        """Scripts whose cues could not all be made, with why."""

    def path(self, text: str, settings: VoiceSettings) -> Path:
        key = repr((clean(text), astuple(settings)))
        return self.dir / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".wav")

    def chunk(self, text: str, settings: VoiceSettings) -> Any:
        """The cue from the voice's memory cache, else from disk (kept in memory), else
        synthesised now and written for next time. A disk that cannot be written only costs
        the next session the same synthesis."""
        key = (clean(text), settings)
        cache = getattr(self.voice, "cache", None)
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                return hit
            p = self.path(text, settings)
            if p.is_file():
                try:
                    chunk = decode_wav(p.read_bytes(), str(p))
                except (OSError, VoicecoachError):
                    p.unlink(missing_ok=True)  # a damaged file: made again below
                else:
                    chunk.samples.setflags(write=False)
                    cache.put(key, chunk)
                    self.loaded += 1
                    return chunk
        chunk = self.voice.synthesize(text, settings)
        self.made += 1
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path(text, settings), encode_wav(chunk))
        except OSError:
            pass  # read-only or full disk: the memory cache still has it
        return chunk

    def seconds(self, text: str, settings: VoiceSettings) -> float:
        return float(self.chunk(text, settings).seconds)


def fixed_cues(script: Any, length: Callable[[str, VoiceSettings], float], base: VoiceSettings | None = None,
               params: dict[str, Any] | None = None) -> list[tuple[str, VoiceSettings]]:
    """The (text, settings) of a script's breathing cues and counts, as the engine will ask
    for them at the normal pace (the same delivery, fade levels and fitting into the beat).
    ``length`` gives a cue's seconds (it fits cues into their beat)."""
    from voicecoach.engine import COUNT_WORDS, fill
    from voicecoach.scripts import REF, StepKind

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


def warm(voice: Any, scripts: list[Any], base: VoiceSettings | None = None, root: Path | None = None) -> DiskCues:
    """Warm ``voice`` with the fixed cues of ``scripts`` (from disk, or made and stored)."""
    disk = DiskCues(getattr(voice, "inner", voice), root)
    if disk.voice.name == "silent":
        return disk
    for script in scripts:
        try:
            for text, settings in fixed_cues(script, disk.seconds, base):
                disk.chunk(text, settings)
        except VoicecoachError as exc:
            # Not fatal: the session synthesises (or prints) that cue when it comes.
            disk.failed.append(f"{script.id}: {exc}")
    return disk

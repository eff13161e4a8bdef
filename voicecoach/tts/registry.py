"""The speech engines by name, the ``auto`` order, and :func:`make_voice`.

Each engine module is imported only when that engine is tried, so a missing package costs
nothing until it is asked for, and then says how to install it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from voicecoach.errors import EngineUnavailable, VoicecoachError
from voicecoach.tts.base import NO_ENGINE_REASON, CachedVoice, SilentVoice, Voice

ENGINES = ("pyttsx3", "festival", "piper", "espeak")
"""Every engine name ``voice.engine`` takes (besides ``auto`` and ``none``)."""


def auto_order(platform: str | None = None) -> list[str]:
    """Engines in the order ``auto`` tries them: the platform voice first on macOS and Windows
    (their voices are good); on Linux Festival's HTS voice, then Piper, then espeak-ng's formant
    voice (through pyttsx3, then directly) as the last fallback."""
    platform = platform or sys.platform
    if platform == "darwin" or platform.startswith("win"):
        return ["pyttsx3", "piper", "festival", "espeak"]
    return ["festival", "piper", "pyttsx3", "espeak"]


def piper_dirs(home: Path | None) -> list[Path]:
    """Where Piper voices are looked up: ``piper/`` in each models directory."""
    from voicecoach.config import home_dir
    from voicecoach.models import models_dirs

    return [d / "piper" for d in models_dirs(home or home_dir())]


def why_unavailable(engine: str, home: Path | None = None) -> str | None:
    """None when ``engine`` looks installed (without starting it), else one line saying what is
    missing and how to install it."""
    if engine == "festival":
        import voicecoach.tts.festival as festival

        return festival.available()
    if engine == "piper":
        import voicecoach.tts.piper_voice as piper_voice

        return piper_voice.available(piper_dirs(home))
    if engine == "pyttsx3":
        import voicecoach.tts.pyttsx3_voice as pyttsx3_voice

        return pyttsx3_voice.available()
    if engine == "espeak":
        from voicecoach.tts.espeak import INSTALL_HINT, find_espeak

        return None if find_espeak() else f"espeak-ng is not installed ({INSTALL_HINT})"
    return f"unknown speech engine {engine!r} (engines: auto, {', '.join(ENGINES)}, none)"


def build(engine: str, wpm: int, volume: float, name: str | None, home: Path | None = None,
          timeout: float = 5.0) -> CachedVoice:
    """One engine, started and probed with one word. Raises a VoicecoachError saying why not."""
    reason = why_unavailable(engine, home)
    if reason:
        raise EngineUnavailable(reason)
    v: CachedVoice
    if engine == "festival":
        from voicecoach.tts.festival import FestivalVoice

        v = FestivalVoice(wpm, volume, name, timeout=max(timeout, 10.0))
    elif engine == "piper":
        from voicecoach.tts.piper_voice import PiperVoice

        v = PiperVoice(wpm, volume, name, dirs=piper_dirs(home))
    elif engine == "pyttsx3":
        from voicecoach.tts.pyttsx3_voice import Pyttsx3Voice

        v = Pyttsx3Voice(wpm, volume, name, timeout=timeout)
    else:
        from voicecoach.tts.espeak import EspeakVoice

        v = EspeakVoice(wpm, volume, name, timeout=timeout)
    try:
        v.probe()
    except VoicecoachError:
        v.close()
        raise
    return v


def make_voice(cfg, mute: bool = False, home: Path | None = None) -> Voice:
    """The configured voice, or the next one that works (see :func:`auto_order`), or silence.

    ``cfg`` is a :class:`voicecoach.config.VoiceConfig`. Each engine is probed with one word so
    a broken engine is found now, not mid-session. When a named engine could not be used,
    ``voice.fallback_reason`` says why in one sentence, with how to install it (print it once).
    ``mute=True`` or ``engine: none`` give a SilentVoice with no reason (the person chose it).
    """
    wpm, volume = int(cfg.rate), float(cfg.volume)
    name = voice_name(cfg)
    if mute or cfg.engine == "none":
        return SilentVoice(wpm, volume)
    chosen = cfg.engine
    order = auto_order() if chosen == "auto" else [chosen] + [e for e in auto_order() if e != chosen]
    failures: list[tuple[str, str]] = []
    for engine in order:
        try:
            # A voice name belongs to the engine it was configured for.
            voice = build(engine, wpm, volume, name if engine == chosen or chosen == "auto" else None, home)
        except VoicecoachError as exc:
            failures.append((engine, str(exc)))
            continue
        if chosen != "auto" and engine != chosen:
            voice.fallback_reason = (
                f"The {chosen} speech engine is not working ({failures[0][1]}); speaking with {engine} instead."
            )
        return voice
    silent = SilentVoice(wpm, volume)
    espeak = next((why for e, why in failures if e == "espeak"), None)
    if espeak is not None and "not installed" in espeak:
        silent.fallback_reason = NO_ENGINE_REASON
    else:
        detail = failures[0][1] if failures else "unknown error"
        silent.fallback_reason = f"Speech output is off: the speech engine is not working ({detail}). I'll print what I'd say."
    return silent


def voice_name(cfg) -> str | None:
    """``voice.name`` (``voice.voice`` is the older spelling of it)."""
    return getattr(cfg, "name", None) or getattr(cfg, "voice", None)


@dataclass(frozen=True)
class InstalledVoice:
    engine: str
    name: str


def installed_voices(home: Path | None = None) -> list[InstalledVoice]:
    """Every voice installed here, engine by engine in the ``auto`` order (no engine started)."""
    out: list[InstalledVoice] = []
    for engine in auto_order():
        if why_unavailable(engine, home):
            continue
        if engine == "festival":
            from voicecoach.tts.festival import list_voices

            names = list_voices()
        elif engine == "piper":
            from voicecoach.tts.piper_voice import voice_files

            names = list(voice_files(piper_dirs(home)))
        elif engine == "pyttsx3":
            names = ["default"]
        else:
            from voicecoach.tts.espeak import list_voices as espeak_voices

            names = espeak_voices()
        out.extend(InstalledVoice(engine, n) for n in names)
    return out

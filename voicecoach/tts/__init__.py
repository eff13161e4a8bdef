"""Speech synthesis: text in, PCM out, behind one small interface (:class:`Voice`).

One module per engine, imported only when that engine is tried:

- :mod:`voicecoach.tts.pyttsx3_voice` — the platform voice (first on macOS and Windows)
- :mod:`voicecoach.tts.festival` — Festival's HTS voice (the default on Debian/Ubuntu)
- :mod:`voicecoach.tts.piper_voice` — Piper's neural voices (optional extra)
- :mod:`voicecoach.tts.espeak` — espeak-ng, the last fallback

:mod:`voicecoach.tts.registry` chooses (``auto``), :mod:`voicecoach.tts.delivery` turns a
script's delivery into settings, :mod:`voicecoach.tts.cues` keeps fixed cues on disk.
"""

from voicecoach.tts.base import (
    DEFAULT_SETTINGS,
    NO_ENGINE_REASON,
    TAIL_SECONDS,
    CachedVoice,
    CueCache,
    FallbackVoice,
    SilentVoice,
    Voice,
    VoiceSettings,
    estimate_seconds,
    fade_out,
    trim_silence,
)
from voicecoach.tts.registry import ENGINES, auto_order, installed_voices, make_voice

__all__ = [
    "DEFAULT_SETTINGS", "ENGINES", "NO_ENGINE_REASON", "TAIL_SECONDS", "CachedVoice", "CueCache",
    "FallbackVoice", "SilentVoice", "Voice", "VoiceSettings", "auto_order", "estimate_seconds",
    "fade_out", "installed_voices", "make_voice", "trim_silence",
]

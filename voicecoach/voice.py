"""The speech-output names most of voicecoach imports, from :mod:`voicecoach.tts` (one module
per engine there). Importing this loads no engine."""

from __future__ import annotations

from voicecoach.tts.base import (
    DEFAULT_SETTINGS,
    MAX_WPM,
    MIN_WPM,
    NO_ENGINE_REASON,
    SILENT_RATE,
    TAIL_SECONDS,
    TRIM_THRESHOLD,
    CachedVoice,
    CueCache,
    FallbackVoice,
    SilentVoice,
    Voice,
    VoiceSettings,
    estimate_seconds,
    fade_out,
    scale,
    trim_silence,
)
from voicecoach.tts.espeak import EspeakVoice, find_espeak
from voicecoach.tts.festival import FestivalVoice
from voicecoach.tts.pyttsx3_voice import Pyttsx3Voice
from voicecoach.tts.registry import make_voice

__all__ = [
    "DEFAULT_SETTINGS", "MAX_WPM", "MIN_WPM", "NO_ENGINE_REASON", "SILENT_RATE", "TAIL_SECONDS",
    "TRIM_THRESHOLD", "CachedVoice", "CueCache", "EspeakVoice", "FallbackVoice", "FestivalVoice",
    "Pyttsx3Voice", "SilentVoice", "Voice", "VoiceSettings", "estimate_seconds", "fade_out",
    "find_espeak", "make_voice", "scale", "trim_silence",
]

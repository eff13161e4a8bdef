"""Fixed cues ("Breathe in", "Hold", the counts) kept on disk per voice and settings, and warmed
into the voice's memory cache before a session, so a live session never waits on the
synthesiser for them.

Only a script's fixed breathing words and the lines it opens with (default parameters) are
stored: never anything built from what the person said. The files live in the user cache directory (``$VOICECOACH_CACHE``, else e.g.
``~/.cache/voicecoach/cues``), one folder per voice (engine, voice, rate, volume), one WAV per
(text, settings). Deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import astuple
from pathlib import Path
from typing import Any

from voicecoach.audio import atomic_write_bytes, decode_wav, encode_wav
from voicecoach.errors import VoicecoachError
from voicecoach.tts.base import VoiceSettings, clean

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

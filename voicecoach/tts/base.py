"""What every speech engine shares: the :class:`Voice` contract, the settings, the in-memory cue
cache, trimming and volume, the silent voice and the never-fail wrapper.

Contract of a :class:`Voice`
----------------------------
``synthesize(text, settings) -> AudioChunk``
    Mono int16 PCM of ``text`` spoken with ``settings``, at the engine's own sample rate
    (``AudioChunk.rate``). The sound starts at sample 0 (the synthesiser's leading silence is
    cut, so a cue scheduled on a beat is heard on the beat) and ends with a short tail
    (``TAIL_SECONDS``). The same (text, settings) returns the *same* cached chunk (read-only
    samples). Empty text gives an empty chunk. A synthesis failure raises a ``VoicecoachError``;
    the voice stays usable for the next request.
``close()``
    Frees the engine (idempotent).
``name``
    The engine: ``"pyttsx3"``, ``"festival"``, ``"piper"``, ``"espeak"`` or ``"silent"``.
``voice_name``
    The engine's voice in use (``cmu_us_slt_arctic_hts``, ``en_US-lessac-medium``, ...).
``fallback_reason``
    Set when the configured engine could not be used: one sentence for the person, printed
    once. ``None`` when the voice is what was asked for.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np

from voicecoach.audio import resample, to_mono
from voicecoach.errors import EngineUnavailable, VoicecoachError
from voicecoach.types import AudioChunk

TRIM_THRESHOLD = 100
"""int16 amplitude (about -50 dBFS) below which the synthesiser's edges count as silence."""
ONSET_THRESHOLD = 400
"""int16 amplitude (about -38 dBFS) where a cue's sound starts: a soft attack below it (the
breath before Festival's "Breathe") is cut, so the audible onset falls on the beat."""
TAIL_SECONDS = 0.08
"""Quiet kept after the last audible sample."""
MIN_WPM, MAX_WPM = 80, 450
"""The usable speaking-rate range (words per minute)."""
SILENT_RATE = 22050
"""Sample rate of SilentVoice output."""

NO_ENGINE_REASON = (
    "Speech output is off: no text-to-speech engine found (install espeak-ng). "
    "I'll print what I'd say."
)


@dataclass(frozen=True)
class VoiceSettings:
    """How a script wants its text spoken, relative to the configured voice."""

    rate: float = 1.0
    """Multiplier of the configured words per minute (0.8 = slower)."""
    volume: float = 1.0
    """Multiplier of the configured volume (bedtime scripts use less than 1)."""
    voice: str | None = None
    """A voice id or part of its name; None = the configured voice."""
    pitch: float = 1.0
    """Multiplier of the voice's pitch (0.9 = a little lower)."""
    sentence_pause: float = 0.0
    """Extra seconds of silence after each sentence inside one cue."""


DEFAULT_SETTINGS = VoiceSettings()


@runtime_checkable
class Voice(Protocol):
    """Text to PCM. See the module docstring for the contract."""

    name: str
    fallback_reason: str | None

    @property
    def voice_name(self) -> str:
        """The engine's own name for the voice in use ("cmu_us_slt_arctic_hts", "en-us")."""
        ...

    def synthesize(self, text: str, settings: VoiceSettings = DEFAULT_SETTINGS) -> AudioChunk: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- audio helpers


def trim_silence(
    chunk: AudioChunk, threshold: int = TRIM_THRESHOLD, tail: float = TAIL_SECONDS, onset: int | None = None
) -> AudioChunk:
    """Cut everything before the first sample louder than ``onset`` (default ``threshold``)
    and keep at most ``tail`` seconds after the last sample louder than ``threshold``. An
    all-quiet chunk becomes empty."""
    mono = to_mono(chunk)
    x = np.abs(mono.samples.astype(np.int32))
    loud = np.flatnonzero(x > threshold)
    if loud.size == 0:
        return AudioChunk(mono.rate, np.zeros(0, dtype=np.int16))
    start = int(loud[0])
    if onset is not None and onset > threshold:
        strong = np.flatnonzero(x > onset)
        start = int(strong[0]) if strong.size else start
    end = min(len(x), int(loud[-1]) + 1 + int(round(tail * mono.rate)))
    return AudioChunk(mono.rate, np.ascontiguousarray(mono.samples[start:end]))


def scale(chunk: AudioChunk, gain: float) -> AudioChunk:
    """Multiply the samples by ``gain`` (clipped to int16)."""
    if gain == 1.0:
        return chunk
    y = np.clip(np.round(chunk.samples.astype(np.float64) * gain), -32768, 32767)
    return AudioChunk(chunk.rate, y.astype(np.int16))


def fade_out(chunk: AudioChunk, seconds: float) -> AudioChunk:
    """A copy whose last ``seconds`` fall linearly to silence (bedtime endings). The length is
    unchanged; a fade longer than the chunk fades the whole of it."""
    n = min(chunk.frames, int(round(max(0.0, seconds) * chunk.rate)))
    y = chunk.samples.astype(np.float64)  # a copy: cached cues stay untouched
    if n > 0:
        ramp = np.linspace(1.0, 0.0, n)
        if y.ndim == 2:
            ramp = ramp[:, None]
        y[-n:] *= ramp
    return AudioChunk(chunk.rate, np.round(y).astype(np.int16))


def join(chunks: list[AudioChunk], gaps: list[float]) -> AudioChunk:
    """Chunks one after another (resampled to the first one's rate) with ``gaps[i]`` seconds
    of silence after chunk ``i``."""
    rate = chunks[0].rate
    parts: list[np.ndarray] = []
    for chunk, gap in zip(chunks, gaps, strict=True):
        c = chunk if chunk.rate == rate else resample(chunk, rate)
        parts.append(c.samples)
        if gap > 0:
            parts.append(np.zeros(int(round(gap * rate)), dtype=np.int16))
    return AudioChunk(rate, np.concatenate(parts).astype(np.int16))


_WORD = re.compile(r"[\w']+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")


def sentences(text: str) -> list[str]:
    """``text`` cut after each sentence end (., ! or ? followed by more text)."""
    return [s for s in _SENTENCE_END.split(text) if s.strip()]


def estimate_seconds(text: str, wpm: float, sentence_pause: float = 0.0) -> float:
    """How long ``text`` takes to say at ``wpm`` words per minute, shaped like espeak-ng's
    output once trimmed (a word takes about 0.64 of 60/wpm, plus 0.25 s of attack and tail, 0.15 s
    after a comma, 0.3 s between sentences, plus ``sentence_pause``). Empty text takes 0 s."""
    words = len(_WORD.findall(text))
    if words == 0:
        return 0.0
    commas = len(re.findall(r"[,;:]", text))
    stops = len(re.findall(r"[.!?]+(?=\s+\S)", text))
    return 0.64 * words * 60.0 / max(wpm, 1.0) + 0.25 + 0.15 * commas + (0.3 + sentence_pause) * stops


def clean(text: str) -> str:
    """Whitespace collapsed: the cache key of a cue's words."""
    return " ".join(str(text).split())


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- cache


class CueCache:
    """A thread-safe LRU of synthesised cues, bounded by entry count and bytes."""

    def __init__(self, max_items: int = 512, max_bytes: int = 64 * 1024 * 1024):
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._bytes = 0
        self._items: OrderedDict[tuple[str, VoiceSettings], AudioChunk] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, VoiceSettings]) -> AudioChunk | None:
        with self._lock:
            chunk = self._items.get(key)
            if chunk is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return chunk

    def put(self, key: tuple[str, VoiceSettings], chunk: AudioChunk) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.samples.nbytes
            self._items[key] = chunk
            self._bytes += chunk.samples.nbytes
            while self._items and (len(self._items) > self.max_items or self._bytes > self.max_bytes):
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.samples.nbytes

    def __contains__(self, key: tuple[str, VoiceSettings]) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


# --------------------------------------------------------------------------- base


class CachedVoice:
    """What every engine shares: settings arithmetic, trimming, volume, sentence pauses and the
    cue cache. Subclasses implement ``_render(text, wpm, voice, pitch) -> AudioChunk`` (raw
    engine output at the engine's rate) and set ``rate`` (Hz) when they know it."""

    name = "voice"
    rate = SILENT_RATE
    """The engine's output sample rate (Hz)."""
    native_pitch = True
    """The engine takes a pitch itself; else pitch is shifted here by resampling a faster or
    slower rendering (the length stays the same)."""

    def __init__(self, wpm: int = 160, volume: float = 1.0, voice: str | None = None, cache_size: int = 512):
        self.wpm = wpm
        self.volume = volume
        self.voice = voice
        self.fallback_reason: str | None = None
        self.cache = CueCache(max_items=cache_size)
        self.last_latency: float | None = None
        """Seconds the last uncached synthesis took (engine + trimming)."""

    @property
    def voice_name(self) -> str:
        """The engine's voice in use (the configured one, or the engine's default)."""
        return self.voice or "default"

    @property
    def identity(self) -> str:
        """Everything that changes the sound of a cue besides its text and settings: the key of
        the on-disk cue cache."""
        return f"{self.name}|{self.voice_name}|{self.wpm}|{self.volume:g}"

    def synthesize(self, text: str, settings: VoiceSettings = DEFAULT_SETTINGS) -> AudioChunk:
        text = clean(text)
        key = (text, settings)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if not text:
            chunk = AudioChunk(self.rate, np.zeros(0, dtype=np.int16))
        elif settings.sentence_pause > 0 and len(parts := sentences(text)) > 1:
            # A longer rest after each sentence: each sentence on its own, then silence.
            flat = replace(settings, sentence_pause=0.0)
            pieces = [self.synthesize(p, flat) for p in parts]
            chunk = join(pieces, [0.3 + settings.sentence_pause] * (len(pieces) - 1) + [0.0])
        else:
            t0 = time.perf_counter()
            raw = self._pitched(text, settings)
            gain = self.volume * settings.volume
            # Trimmed where the *scaled* sound passes the threshold, so it starts at sample 0
            # however quiet the cue is (a soft onset is cut a little later, never earlier).
            k = 1.0 / gain if 0 < gain < 1 else 1.0
            trimmed = trim_silence(raw, int(np.ceil(TRIM_THRESHOLD * k)), onset=int(np.ceil(ONSET_THRESHOLD * k)))
            chunk = scale(trimmed, gain)
            self.last_latency = time.perf_counter() - t0
        chunk.samples.setflags(write=False)  # shared by every caller of this cue
        self.cache.put(key, chunk)
        return chunk

    def _pitched(self, text: str, settings: VoiceSettings) -> AudioChunk:
        voice, pitch = settings.voice or self.voice, settings.pitch
        if self.native_pitch or abs(pitch - 1.0) < 1e-3:
            return self._render(text, self.wpm_for(settings), voice, pitch)
        # Played pitch-times faster, a rendering pitch-times longer keeps its length.
        wpm = int(min(MAX_WPM, max(MIN_WPM, round(self.wpm * settings.rate / pitch))))
        raw = self._render(text, wpm, voice, 1.0)
        return resample(AudioChunk(int(round(raw.rate * pitch)), raw.samples), raw.rate)

    def wpm_for(self, settings: VoiceSettings) -> int:
        """The engine's words per minute for these settings (clamped to a usable range)."""
        return int(min(MAX_WPM, max(MIN_WPM, round(self.wpm * settings.rate))))

    def probe(self) -> None:
        """Say one word, so a broken engine is found at start-up, not halfway through a session."""
        chunk = self._render("okay", self.wpm, self.voice, 1.0)
        if trim_silence(chunk).frames == 0:
            raise VoicecoachError("it produced only silence")

    def close(self) -> None:
        self.cache.clear()

    def _render(self, text: str, wpm: int, voice: str | None, pitch: float = 1.0) -> AudioChunk:  # pragma: no cover
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- silent


class SilentVoice(CachedVoice):
    """No speech engine: silence as long as the text would take to say, so schedules, pacing
    and ``playing_until`` still work while the words are printed instead."""

    name = "silent"

    def _render(self, text: str, wpm: int, voice: str | None, pitch: float = 1.0) -> AudioChunk:
        return AudioChunk.silence(estimate_seconds(text, wpm), SILENT_RATE)

    def synthesize(self, text: str, settings: VoiceSettings = DEFAULT_SETTINGS) -> AudioChunk:
        text = clean(text)
        key = (text, settings)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        # No trimming: silence is the content.
        chunk = AudioChunk.silence(estimate_seconds(text, self.wpm_for(settings), settings.sentence_pause), SILENT_RATE)
        chunk.samples.setflags(write=False)
        self.cache.put(key, chunk)
        return chunk


# --------------------------------------------------------------------------- never fail a session


class FallbackVoice:
    """Wraps a voice so that speech failing mid-session never ends the session.

    A cue the engine cannot speak (an error, or a hang cut off by the engine's timeout) becomes
    silence as long as the words would take to say — the runners print every cue's words, so the
    person still reads them — and that cue is not tried again (a breathing cue repeated hundreds
    of times must not stall the beat each time). Once the engine gives up (EngineUnavailable),
    every cue is silent. ``notify`` gets one sentence, once, saying why.
    """

    def __init__(self, inner: Voice, notify: Callable[[str], None] | None = None):
        self.inner = inner
        self.name = inner.name
        self.fallback_reason = inner.fallback_reason
        self.notify = notify
        self.failures = 0
        """Cues that could not be spoken."""
        self._silent = SilentVoice(int(getattr(inner, "wpm", 160)), float(getattr(inner, "volume", 1.0)))
        self._failed: set[tuple[str, VoiceSettings]] = set()
        self._gave_up = False
        self._told = False

    def synthesize(self, text: str, settings: VoiceSettings = DEFAULT_SETTINGS) -> AudioChunk:
        key = (clean(text), settings)
        if not self._gave_up and key not in self._failed:
            try:
                return self.inner.synthesize(text, settings)
            except EngineUnavailable as exc:
                self._gave_up = True
                self._fail(exc)
            except VoicecoachError as exc:
                self._failed.add(key)
                self._fail(exc)
        silent = self._silent.synthesize(text, settings)
        rate = getattr(self.inner, "rate", SILENT_RATE)
        return silent if silent.rate == rate else AudioChunk.silence(silent.seconds, rate)

    def _fail(self, exc: Exception) -> None:
        self.failures += 1
        if not self._told and self.notify is not None:
            self._told = True
            self.notify(f"speech output failed ({one_line(exc)}); I'll print what I can't say.")

    def close(self) -> None:
        self.inner.close()
        self._silent.close()

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

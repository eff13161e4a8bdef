"""Speech synthesis: text in, PCM out, behind one small interface.

Contract of a :class:`Voice`
----------------------------
``synthesize(text, settings) -> AudioChunk``
    Mono int16 PCM of ``text`` spoken with ``settings``. The sound starts at sample 0 (the
    synthesiser's leading silence is cut, so a cue scheduled on a beat is heard on the beat) and
    ends with a short tail (``TAIL_SECONDS``). The same (text, settings) returns the *same*
    cached chunk (read-only samples), so breathing cues repeated hundreds of times are synthesised
    once. Empty text gives an empty chunk. A synthesis failure raises a ``VoicecoachError``; the
    voice stays usable for the next request.
``close()``
    Frees the engine (idempotent).
``name``
    ``"pyttsx3"``, ``"espeak"`` or ``"silent"``.
``fallback_reason``
    Set by :func:`make_voice` when the configured engine could not be used: one sentence for the
    person, to be printed once. ``None`` when the voice is what was asked for.

Engines are imported lazily: importing this module loads neither pyttsx3 nor espeak.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from voicecoach.audio import decode_wav, read_wav, to_mono
from voicecoach.errors import EngineUnavailable, VoicecoachError
from voicecoach.types import AudioChunk

TRIM_THRESHOLD = 100
"""int16 amplitude (about -50 dBFS) below which the synthesiser's edges count as silence."""
TAIL_SECONDS = 0.08
"""Quiet kept after the last audible sample."""
MIN_WPM, MAX_WPM = 80, 450
"""espeak's usable speaking-rate range (words per minute)."""
SILENT_RATE = 22050
"""Sample rate of SilentVoice output (the rate espeak produces, so chunks mix alike)."""

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


DEFAULT_SETTINGS = VoiceSettings()


@runtime_checkable
class Voice(Protocol):
    """Text to PCM. See the module docstring for the contract."""

    name: str
    fallback_reason: str | None

    def synthesize(self, text: str, settings: VoiceSettings = DEFAULT_SETTINGS) -> AudioChunk: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- audio helpers


def trim_silence(
    chunk: AudioChunk, threshold: int = TRIM_THRESHOLD, tail: float = TAIL_SECONDS
) -> AudioChunk:
    """Cut everything before the first sample louder than ``threshold`` and keep at most
    ``tail`` seconds after the last one. An all-quiet chunk becomes empty."""
    mono = to_mono(chunk)
    x = mono.samples
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > threshold)
    if loud.size == 0:
        return AudioChunk(mono.rate, np.zeros(0, dtype=np.int16))
    end = min(len(x), int(loud[-1]) + 1 + int(round(tail * mono.rate)))
    return AudioChunk(mono.rate, np.ascontiguousarray(x[int(loud[0]) : end]))


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


_WORD = re.compile(r"[\w']+")


def estimate_seconds(text: str, wpm: float) -> float:
    """How long ``text`` takes to say at ``wpm`` words per minute, shaped like espeak-ng's
    output once trimmed (a word takes about 0.64 of 60/wpm, plus 0.25 s of attack and tail, 0.15 s
    after a comma, 0.3 s between sentences). Empty text takes 0 s."""
    words = len(_WORD.findall(text))
    if words == 0:
        return 0.0
    commas = len(re.findall(r"[,;:]", text))
    stops = len(re.findall(r"[.!?]+(?=\s+\S)", text))
    return 0.64 * words * 60.0 / max(wpm, 1.0) + 0.25 + 0.15 * commas + 0.3 * stops


def _clean(text: str) -> str:
    return " ".join(str(text).split())


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

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


# --------------------------------------------------------------------------- base


class _CachedVoice:
    """What every engine shares: settings arithmetic, trimming, volume and the cue cache.
    Subclasses implement ``_render(text, wpm, voice) -> AudioChunk`` (raw engine output)."""

    name = "voice"

    def __init__(self, wpm: int = 160, volume: float = 1.0, voice: str | None = None, cache_size: int = 512):
        self.wpm = wpm
        self.volume = volume
        self.voice = voice
        self.fallback_reason: str | None = None
        self.cache = CueCache(max_items=cache_size)
        self.last_latency: float | None = None
        """Seconds the last uncached synthesis took (engine + trimming)."""

    def synthesize(self, text: str, settings: VoiceSettings = DEFAULT_SETTINGS) -> AudioChunk:
        text = _clean(text)
        key = (text, settings)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if not text:
            chunk = AudioChunk(self._output_rate(), np.zeros(0, dtype=np.int16))
        else:
            t0 = time.perf_counter()
            raw = self._render(text, self.wpm_for(settings), settings.voice or self.voice)
            chunk = scale(trim_silence(raw), self.volume * settings.volume)
            self.last_latency = time.perf_counter() - t0
        chunk.samples.setflags(write=False)  # shared by every caller of this cue
        self.cache.put(key, chunk)
        return chunk

    def wpm_for(self, settings: VoiceSettings) -> int:
        """The engine's words per minute for these settings (clamped to what espeak does)."""
        return int(min(MAX_WPM, max(MIN_WPM, round(self.wpm * settings.rate))))

    def close(self) -> None:
        self.cache.clear()

    def _output_rate(self) -> int:
        return SILENT_RATE

    def _render(self, text: str, wpm: int, voice: str | None) -> AudioChunk:  # pragma: no cover
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- silent


class SilentVoice(_CachedVoice):
    """No speech engine: silence as long as the text would take to say, so schedules, pacing
    and ``playing_until`` still work while the words are printed instead."""

    name = "silent"

    def _render(self, text: str, wpm: int, voice: str | None) -> AudioChunk:
        return AudioChunk.silence(estimate_seconds(text, wpm), SILENT_RATE)

    def synthesize(self, text: str, settings: VoiceSettings = DEFAULT_SETTINGS) -> AudioChunk:
        text = _clean(text)
        key = (text, settings)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        # No trimming: silence is the content.
        chunk = self._render(text, self.wpm_for(settings), None)
        chunk.samples.setflags(write=False)
        self.cache.put(key, chunk)
        return chunk


# --------------------------------------------------------------------------- espeak-ng


def find_espeak() -> str | None:
    """Path of espeak-ng (or classic espeak), or None."""
    return shutil.which("espeak-ng") or shutil.which("espeak")


class EspeakVoice(_CachedVoice):
    """espeak-ng as a subprocess (``--stdout``): no Python binding, nothing to hang in-process.
    Used when pyttsx3 is missing or broken."""

    name = "espeak"

    def __init__(self, wpm: int = 160, volume: float = 1.0, voice: str | None = None,
                 binary: str | None = None, timeout: float = 10.0, cache_size: int = 512):
        super().__init__(wpm, volume, voice, cache_size)
        self.binary = binary or find_espeak()
        if not self.binary:
            raise EngineUnavailable("espeak-ng is not installed (sudo apt install espeak-ng)")
        self.timeout = timeout
        self._bad_voices: set[str] = set()

    def _render(self, text: str, wpm: int, voice: str | None) -> AudioChunk:
        if voice and voice not in self._bad_voices:
            try:
                return self._run(text, wpm, voice)
            except VoicecoachError:
                # An unknown voice name must not silence the coach: fall back to the default.
                self._bad_voices.add(voice)
        return self._run(text, wpm, None)

    def _run(self, text: str, wpm: int, voice: str | None) -> AudioChunk:
        cmd = [self.binary, "--stdout", "-b", "1", "-s", str(wpm)]
        if voice:
            cmd += ["-v", voice]
        try:
            proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise VoicecoachError(f"espeak-ng took longer than {self.timeout:g} s to speak {text[:40]!r}") from None
        except OSError as exc:
            raise VoicecoachError(f"cannot run {self.binary}: {exc.strerror or exc}") from None
        if proc.returncode != 0 or len(proc.stdout) <= 44:
            msg = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no audio produced"])[0]
            raise VoicecoachError(f"espeak-ng failed: {msg}")
        return to_mono(decode_wav(proc.stdout, "espeak-ng output"))


# --------------------------------------------------------------------------- pyttsx3


@dataclass
class _Request:
    text: str
    wpm: int
    voice: str | None
    future: Future


class Pyttsx3Voice(_CachedVoice):
    """pyttsx3 behind one worker thread that owns the engine.

    Each request is ``save_to_file`` to a private temp WAV + ``runAndWait`` on that thread, and
    the caller waits at most ``timeout`` seconds. The known pyttsx3 traps are handled here:

    * ``runAndWait`` never returning: the request fails with a VoicecoachError after ``timeout``;
      the stuck worker is abandoned (it owns nothing anyone else uses) and a fresh worker builds
      a fresh engine for the next request. After ``max_hangs`` hangs in a row the voice gives
      up with EngineUnavailable (``make_voice`` callers then fall back).
    * "run loop already started" or any other engine exception: the engine is rebuilt on the
      worker and the request retried once.
    * only the first ``say`` spoken / engines shared between threads: one engine, one thread,
      one ``save_to_file`` per loop, and the output file is checked.

    Volume is applied to the samples (espeak's file output may ignore the engine's volume); the
    rate goes through the engine's ``rate`` property.
    """

    name = "pyttsx3"

    def __init__(self, wpm: int = 160, volume: float = 1.0, voice: str | None = None,
                 timeout: float = 10.0, driver: str | None = None, max_hangs: int = 3,
                 cache_size: int = 512):
        super().__init__(wpm, volume, voice, cache_size)
        try:
            import pyttsx3  # noqa: F401 - imported here so the module loads without it
        except ImportError:
            raise EngineUnavailable("pyttsx3 is not installed (pip install pyttsx3)") from None
        self.timeout = timeout
        self.driver = driver
        self.max_hangs = max_hangs
        self.hangs = 0
        """Requests that timed out since the last success."""
        self.rebuilds = 0
        """Engines built after the first (after a hang or an engine error)."""
        self._tmpdir = tempfile.mkdtemp(prefix="voicecoach-tts-")
        self._lock = threading.Lock()
        self._closed = False
        self._worker: _Pyttsx3Worker | None = None
        self._start_worker(first=True)

    def _start_worker(self, first: bool = False) -> None:
        if not first:
            self.rebuilds += 1
        worker = _Pyttsx3Worker(self.driver, self._tmpdir, on_rebuild=self._count_rebuild)
        self._worker = worker
        try:
            worker.ready.result(timeout=self.timeout)
        except FutureTimeout:
            worker.abandon()
            raise EngineUnavailable(f"pyttsx3 did not start within {self.timeout:g} s") from None
        except Exception as exc:
            worker.abandon()
            raise EngineUnavailable(f"pyttsx3 cannot start: {_one_line(exc)}") from None

    def _count_rebuild(self) -> None:
        self.rebuilds += 1

    def _render(self, text: str, wpm: int, voice: str | None) -> AudioChunk:
        with self._lock:
            if self._closed:
                raise VoicecoachError("the voice is closed")
            if self._worker is None:
                if self.hangs >= self.max_hangs:
                    raise EngineUnavailable(f"pyttsx3 stopped responding {self.hangs} times; giving up on it")
                self._start_worker()
            worker = self._worker
            if worker is None:  # pragma: no cover - _start_worker raises instead
                raise EngineUnavailable("pyttsx3 is not running")
            fut: Future = Future()
            worker.requests.put(_Request(text, wpm, voice, fut))
            try:
                chunk = fut.result(timeout=self.timeout)
            except FutureTimeout:
                self.hangs += 1
                worker.abandon()
                self._worker = None  # the next request builds a new worker and engine
                raise VoicecoachError(
                    f"pyttsx3 did not finish speaking {text[:40]!r} within {self.timeout:g} s; "
                    "restarting the speech engine"
                ) from None
            self.hangs = 0
            return chunk

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._worker is not None:
                self._worker.stop()
                self._worker = None
        super().close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _Pyttsx3Worker:
    """The one thread that touches a pyttsx3 engine."""

    _ids = 0

    def __init__(self, driver: str | None, tmpdir: str, on_rebuild: Callable[[], None]):
        _Pyttsx3Worker._ids += 1
        self.ident = _Pyttsx3Worker._ids
        self.driver = driver
        self.tmpdir = tmpdir
        self.on_rebuild = on_rebuild
        self.requests: queue.Queue[_Request | None] = queue.Queue()
        self.ready: Future = Future()
        self.abandoned = False
        self.thread = threading.Thread(target=self._run, name=f"voicecoach-pyttsx3-{self.ident}", daemon=True)
        self.thread.start()

    def abandon(self) -> None:
        """Stop using this worker; if it is stuck it may never return, and nothing waits on it."""
        self.abandoned = True
        self.requests.put(None)

    def stop(self) -> None:
        self.requests.put(None)
        self.thread.join(timeout=1.0)

    def _build(self):
        import pyttsx3

        engine = pyttsx3.Engine(self.driver)  # not pyttsx3.init(): that shares engines per driver
        module = getattr(getattr(engine, "proxy", None), "_module", None)
        if module is not None and hasattr(module, "buildDriver"):
            # The espeak driver prints "Audio saved to ..." for every file; keep stdout clean.
            module.print = _quiet  # type: ignore[attr-defined]
        engine.setProperty("volume", 1.0)  # volume is applied to the samples instead
        self.synchronize = None
        if getattr(module, "__name__", "") == "pyttsx3.drivers.espeak":
            from pyttsx3.drivers import _espeak

            self.synchronize = getattr(_espeak, "Synchronize", None)
        self._settle()
        self.default_voice = _safe_get(engine, "voice")
        self.voices = _safe_get(engine, "voices") or []
        self.current_voice = self.default_voice
        self.current_rate: int | None = None
        self.resolved: dict[str, str | None] = {}
        return engine

    def _run(self) -> None:
        try:
            engine = self._build()
        except BaseException as exc:  # noqa: BLE001 - reported to the waiting constructor
            self.ready.set_exception(exc)
            return
        self.ready.set_result(True)
        n = 0
        while True:
            req = self.requests.get()
            if req is None or self.abandoned:
                if req is not None:
                    req.future.cancel()
                return
            n += 1
            path = os.path.join(self.tmpdir, f"cue-{self.ident}-{n}.wav")
            try:
                chunk = self._speak(engine, req, path)
            except Exception:
                # "run loop already started" and friends: a fresh engine, one more try.
                try:
                    engine = self._build()
                    self.on_rebuild()
                    chunk = self._speak(engine, req, path)
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    if not self.abandoned:
                        req.future.set_exception(VoicecoachError(f"pyttsx3 failed: {_one_line(exc)}"))
                    continue
            finally:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            if not self.abandoned:
                req.future.set_result(chunk)

    def _speak(self, engine, req: _Request, path: str) -> AudioChunk:
        voice = self._voice_id(req.voice)
        changed = False
        if voice is not None and voice != self.current_voice:
            engine.setProperty("voice", voice)
            self.current_voice, changed = voice, True
        if req.wpm != self.current_rate:
            engine.setProperty("rate", req.wpm)
            self.current_rate, changed = req.wpm, True
        if changed:
            self._settle()
        engine.save_to_file(req.text, path)
        engine.runAndWait()
        if not os.path.exists(path) or os.path.getsize(path) <= 44:
            raise VoicecoachError("no audio was written")
        return to_mono(read_wav(path))

    def _settle(self) -> None:
        """With the espeak driver, property changes go through libespeak's command queue, and
        the ``stop()`` that ``runAndWait`` issues cancels whatever is still queued: a new rate
        was silently dropped about every other request. Wait until libespeak has applied them."""
        if self.synchronize is not None:
            self.synchronize()

    def _voice_id(self, wanted: str | None) -> str | None:
        """An engine voice id for a configured id or name fragment; the default when unknown."""
        if not wanted:
            return self.default_voice
        if wanted not in self.resolved:
            w = wanted.lower()
            found = None
            for v in self.voices:
                if str(getattr(v, "id", "")).lower() == w:
                    found = v.id
                    break
            if found is None:
                for v in self.voices:
                    if w in str(getattr(v, "id", "")).lower() or w in str(getattr(v, "name", "")).lower():
                        found = v.id
                        break
            self.resolved[wanted] = found if found is not None else self.default_voice
        return self.resolved[wanted]


def _quiet(*args, **kwargs) -> None:
    return None


def _safe_get(engine, name: str):
    try:
        return engine.getProperty(name)
    except Exception:  # noqa: BLE001 - a driver without the property
        return None


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
        key = (_clean(text), settings)
        if not self._gave_up and key not in self._failed:
            try:
                return self.inner.synthesize(text, settings)
            except EngineUnavailable as exc:
                self._gave_up = True
                self._fail(exc)
            except VoicecoachError as exc:
                self._failed.add(key)
                self._fail(exc)
        return self._silent.synthesize(text, settings)

    def _fail(self, exc: Exception) -> None:
        self.failures += 1
        if not self._told and self.notify is not None:
            self._told = True
            self.notify(f"speech output failed ({_one_line(exc)}); I'll print what I can't say.")

    def close(self) -> None:
        self.inner.close()
        self._silent.close()

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


# --------------------------------------------------------------------------- choosing


_ENGINES = ("pyttsx3", "espeak")


def make_voice(cfg, mute: bool = False) -> Voice:
    """The configured voice, or the next one that works: pyttsx3 → espeak → silent.

    ``cfg`` is a :class:`voicecoach.config.VoiceConfig`. Each engine is tried with a one-word
    probe so a broken engine is found now, not mid-session. When the result is not what was
    configured, ``voice.fallback_reason`` says why in one sentence for the person (print it once).
    ``mute=True`` or ``engine: none`` give a SilentVoice with no reason (the person chose it).
    """
    wpm, volume, voice_name = int(cfg.rate), float(cfg.volume), cfg.voice
    if mute or cfg.engine == "none":
        return SilentVoice(wpm, volume)
    order = [cfg.engine] + [e for e in _ENGINES if e != cfg.engine]
    failures: list[str] = []
    for engine in order:
        try:
            voice = _build_voice(engine, wpm, volume, voice_name)
        except VoicecoachError as exc:
            failures.append(f"{engine}: {exc}")
            continue
        if engine != cfg.engine:
            voice.fallback_reason = (
                f"The {cfg.engine} speech engine is not working ({failures[0].split(': ', 1)[1]}); "
                f"speaking with {engine} instead."
            )
        return voice
    silent = SilentVoice(wpm, volume)
    if find_espeak() is None:
        silent.fallback_reason = NO_ENGINE_REASON
    else:
        detail = failures[0].split(": ", 1)[1] if failures else "unknown error"
        silent.fallback_reason = f"Speech output is off: the speech engine is not working ({detail}). I'll print what I'd say."
    return silent


def _build_voice(engine: str, wpm: int, volume: float, voice_name: str | None) -> _CachedVoice:
    if engine == "pyttsx3":
        if find_espeak() is None and not _has_libespeak():
            raise EngineUnavailable("libespeak-ng is not installed (sudo apt install espeak-ng)")
        v: _CachedVoice = Pyttsx3Voice(wpm, volume, voice_name, timeout=5.0)
    elif engine == "espeak":
        v = EspeakVoice(wpm, volume, voice_name, timeout=5.0)
    else:
        raise EngineUnavailable(f"unknown speech engine {engine!r}")
    try:
        probe = v._render("okay", v.wpm, voice_name)
        if trim_silence(probe).frames == 0:
            raise VoicecoachError("it produced only silence")
    except VoicecoachError:
        v.close()
        raise
    return v


def _has_libespeak() -> bool:
    import ctypes.util

    return bool(ctypes.util.find_library("espeak-ng") or ctypes.util.find_library("espeak"))

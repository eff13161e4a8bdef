"""pyttsx3: the platform voice (NSSpeechSynthesizer on macOS, SAPI5 on Windows, libespeak-ng on
Linux), first choice on macOS and Windows. Synthesised to a private WAV file and read back, so the
coach plays the PCM itself."""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from voicecoach.audio import read_wav, to_mono
from voicecoach.errors import EngineUnavailable, VoicecoachError
from voicecoach.tts.base import CachedVoice, one_line
from voicecoach.types import AudioChunk

INSTALL_HINT = "pip install pyttsx3"



@dataclass
class _Request:
    text: str
    wpm: int
    voice: str | None
    future: Future


class Pyttsx3Voice(CachedVoice):
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
    rate = 22050
    native_pitch = False

    def __init__(self, wpm: int = 160, volume: float = 1.0, voice: str | None = None,
                 timeout: float = 10.0, driver: str | None = None, max_hangs: int = 3,
                 cache_size: int = 512):
        super().__init__(wpm, volume, voice, cache_size)
        try:
            import pyttsx3  # noqa: F401 - imported here so the module loads without it
        except ImportError:
            raise EngineUnavailable(f"pyttsx3 is not installed ({INSTALL_HINT})") from None
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
            raise EngineUnavailable(f"pyttsx3 cannot start: {one_line(exc)}") from None

    @property
    def voice_name(self) -> str:
        if self.voice:
            return self.voice
        worker = self._worker
        default = getattr(worker, "default_voice", None) if worker is not None else None
        return str(default) if default else "default"

    def _count_rebuild(self) -> None:
        self.rebuilds += 1

    def _render(self, text: str, wpm: int, voice: str | None, pitch: float = 1.0) -> AudioChunk:
        # pyttsx3 has no portable pitch property: the platform voice keeps its own.
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
            self.rate = chunk.rate
            return chunk

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._worker is not None:
                self._worker.stop()
                self._worker = None
        super().close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)


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
            module.print = _quiet
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
                        req.future.set_exception(VoicecoachError(f"pyttsx3 failed: {one_line(exc)}"))
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


def has_libespeak() -> bool:
    """libespeak-ng is what pyttsx3 speaks with on Linux."""
    import ctypes.util

    return bool(ctypes.util.find_library("espeak-ng") or ctypes.util.find_library("espeak"))


def available() -> str | None:
    """None when pyttsx3 can be used here, else why not (with the install hint)."""
    import importlib.util
    import sys

    if importlib.util.find_spec("pyttsx3") is None or sys.modules.get("pyttsx3", 0) is None:
        return f"pyttsx3 is not installed ({INSTALL_HINT})"
    if sys.platform.startswith("linux") and not has_libespeak():
        return "libespeak-ng is not installed (sudo apt install espeak-ng)"
    return None

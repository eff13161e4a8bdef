"""Festival with an HTS voice (Debian: ``festival`` + ``festvox-us-slt-hts``): a smooth, calm
statistical-parametric voice, the default on Debian and Ubuntu when it is installed.

One ``festival --pipe`` process lives as long as the voice. Each cue is one Scheme form that
synthesises the text into a private temp WAV, followed by a numbered marker printed (and
flushed) on stdout, so the voice knows when the file is complete and never reads a stale answer.
A process that hangs past ``timeout`` is killed and the next cue starts a new one.
"""

from __future__ import annotations

import glob
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from voicecoach.audio import read_wav, to_mono
from voicecoach.errors import EngineUnavailable, VoicecoachError
from voicecoach.tts.base import CachedVoice
from voicecoach.types import AudioChunk

INSTALL_HINT = "sudo apt install festival festvox-us-slt-hts"
PREFERRED = ("cmu_us_slt_arctic_hts", "cmu_us_rms_arctic_hts", "cmu_us_bdl_arctic_hts")
"""Voices tried first, in order (the HTS voices are the natural-sounding ones)."""
NATURAL_WPM = 160.0
"""Words per minute of the HTS voices at speed 1.0 (measured: about espeak-ng at 160)."""
VOICE_DIRS = ("/usr/share/festival/voices", "/usr/lib/festival/voices", "/usr/local/share/festival/voices")


def find_festival() -> str | None:
    return shutil.which("festival")


def list_voices(dirs: tuple[str, ...] = VOICE_DIRS) -> list[str]:
    """Installed Festival voices, the preferred ones first."""
    found: list[str] = []
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*", "*", "festvox"))):
            name = Path(path).parent.name
            if name not in found:
                found.append(name)
    ranked = [v for v in PREFERRED if v in found]
    ranked += [v for v in found if v.endswith("_hts") and v not in ranked]
    ranked += [v for v in found if v not in ranked]
    return ranked


def available() -> str | None:
    """None when Festival with a voice is installed, else why not (with the install hint)."""
    if find_festival() is None:
        return f"Festival is not installed ({INSTALL_HINT})"
    if not list_voices():
        return f"no Festival voice is installed ({INSTALL_HINT})"
    return None


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class FestivalVoice(CachedVoice):
    """Festival through one long-lived ``festival --pipe`` process. The rate goes to the HTS
    engine's speed (``-r``), or ``Duration_Stretch`` for other voices; pitch is shifted by the
    shared resampling path (Festival's HTS engine has no pitch control)."""

    name = "festival"
    rate = 32000
    native_pitch = False

    def __init__(self, wpm: int = 160, volume: float = 1.0, voice: str | None = None,
                 binary: str | None = None, timeout: float = 10.0, cache_size: int = 512):
        super().__init__(wpm, volume, voice, cache_size)
        found = binary or find_festival()
        if not found:
            raise EngineUnavailable(f"Festival is not installed ({INSTALL_HINT})")
        self.binary: str = found
        voices = list_voices()
        if not voices:
            raise EngineUnavailable(f"no Festival voice is installed ({INSTALL_HINT})")
        self.festival_voice = _pick(voices, voice)
        self.hts = self.festival_voice.endswith("_hts")
        self.timeout = timeout
        self._tmpdir = tempfile.mkdtemp(prefix="voicecoach-festival-")
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._n = 0
        self._closed = False
        with self._lock:
            self._start()

    @property
    def voice_name(self) -> str:
        return self.festival_voice

    # -- the process --------------------------------------------------------------------------

    def _start(self) -> None:
        try:
            proc = subprocess.Popen([self.binary, "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True, encoding="utf-8", bufsize=1)
        except OSError as exc:
            raise EngineUnavailable(f"cannot run {self.binary}: {exc.strerror or exc}") from None
        self._proc = proc
        self._lines = lines = queue.Queue[str | None]()
        threading.Thread(target=_pump, args=(proc, lines), name="voicecoach-festival", daemon=True).start()
        setup = f"(voice_{self.festival_voice})\n"
        if self.hts:
            setup += "(set! voicecoach_hts_params hts_engine_params)\n"
        try:
            self._send(setup)
        except VoicecoachError as exc:
            self._kill()
            raise EngineUnavailable(f"Festival did not start: {exc}") from None

    def _send(self, forms: str) -> None:
        """Send Scheme forms and wait for their numbered marker."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise VoicecoachError("Festival is not running")
        self._n += 1
        marker = f"voicecoach-done-{self._n}"
        try:
            proc.stdin.write(f'{forms}(format t "{marker}\\n")(fflush nil)\n')
            proc.stdin.flush()
        except (OSError, ValueError):
            self._kill()
            raise VoicecoachError("Festival stopped") from None
        while True:
            try:
                line = self._lines.get(timeout=self.timeout)
            except queue.Empty:
                self._kill()
                raise VoicecoachError(f"Festival did not answer within {self.timeout:g} s; restarting it") from None
            if line is None:
                self._kill()
                raise VoicecoachError("Festival stopped")
            if line.strip() == marker:
                return

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.kill()
                proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass  # already gone, or a zombie the OS reaps with us

    # -- synthesis ----------------------------------------------------------------------------

    def _render(self, text: str, wpm: int, voice: str | None, pitch: float = 1.0) -> AudioChunk:
        speed = max(0.3, min(3.0, wpm / NATURAL_WPM))
        with self._lock:
            if self._closed:
                raise VoicecoachError("the voice is closed")
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            path = os.path.join(self._tmpdir, f"cue-{self._n + 1}.wav")
            if self.hts:
                tempo = f'(set! hts_engine_params (append voicecoach_hts_params (list (list "-r" {speed:.4f}))))\n'
            else:
                tempo = f"(Parameter.set 'Duration_Stretch {1.0 / speed:.4f})\n"
            form = (f"{tempo}(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
                    f"{_scheme_string(path)} 'riff)\n")
            try:
                self._send(form)
                if not os.path.exists(path) or os.path.getsize(path) <= 44:
                    raise VoicecoachError(f"Festival wrote no audio for {text[:40]!r}")
                chunk = to_mono(read_wav(path))
            finally:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        self.rate = chunk.rate
        return chunk

    def close(self) -> None:
        with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
            if proc is not None:
                try:
                    if proc.stdin is not None:
                        proc.stdin.close()
                    proc.wait(timeout=2)
                except (OSError, subprocess.TimeoutExpired):
                    proc.kill()
        super().close()
        shutil.rmtree(self._tmpdir, ignore_errors=True)


def _pick(voices: list[str], wanted: str | None) -> str:
    """The configured voice (an exact name or part of one), else the best installed one."""
    if wanted:
        w = wanted.lower()
        for v in voices:
            if v.lower() == w:
                return v
        for v in voices:
            if w in v.lower():
                return v
    return voices[0]


def _pump(proc: subprocess.Popen, lines: queue.Queue) -> None:
    if proc.stdout is None:
        lines.put(None)
        return
    for line in proc.stdout:
        lines.put(line)
    lines.put(None)

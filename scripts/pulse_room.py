"""A room made of PulseAudio null sinks, for the real-audio test (tests/test_listen_e2e.py) and
benchmark (scripts/bench_room.py): the coach's speaker sink loops back into the microphone's sink
with a delay (module-loopback), so everything the coach says comes back into its microphone; the
person speaks into the microphone's sink directly. Also what both read off the recordings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from voicecoach.audio import read_wav, to_asr, write_wav  # noqa: E402
from voicecoach.types import AudioChunk  # noqa: E402

ECHO_MS = 60
"""The loopback's latency: how late the coach's voice comes back into the microphone."""


def unavailable() -> str | None:
    """Why no room can be made here (None: it can)."""
    for tool in ("pactl", "paplay", "parecord"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
        return "PulseAudio is not reachable"
    return None


class RoomError(RuntimeError):
    pass


class PulseRoom:
    """Two private null sinks, the speaker's and the microphone's, and a delayed loopback from
    the first into the second; unloaded on leaving the ``with`` block."""

    def __init__(self, echo_ms: int = ECHO_MS):
        tag = uuid.uuid4().hex[:8]
        self.spk, self.mic = f"vc_spk_{tag}", f"vc_mic_{tag}"
        self.echo_ms = echo_ms
        self._mods: list[str] = []

    def _load(self, *args: str) -> None:
        out = subprocess.run(["pactl", "load-module", *args], capture_output=True, text=True)
        if out.returncode != 0:
            raise RoomError(f"cannot load {args[0]}: {out.stderr.strip()}")
        self._mods.append(out.stdout.strip())

    def __enter__(self) -> PulseRoom:
        try:
            self._load("module-null-sink", f"sink_name={self.spk}", f"sink_properties=device.description={self.spk}")
            self._load("module-null-sink", f"sink_name={self.mic}", f"sink_properties=device.description={self.mic}")
            self._load("module-loopback", f"source={self.spk}.monitor", f"sink={self.mic}",
                       f"latency_msec={self.echo_ms}", "source_dont_move=true", "sink_dont_move=true")
        except RoomError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for m in reversed(self._mods):
            subprocess.run(["pactl", "unload-module", m], capture_output=True)
        self._mods.clear()

    def env(self, home: Path) -> dict[str, str]:
        """The environment of a coach in this room (its home at ``home``)."""
        return dict(os.environ, VOICECOACH_HOME=str(home), PULSE_SINK=self.spk, PULSE_SOURCE=f"{self.mic}.monitor",
                    PYTHONUNBUFFERED="1")

    def record(self, source: str, path: Path, env: dict) -> subprocess.Popen:
        """Record a sink's monitor (``self.spk`` / ``self.mic`` + ".monitor") to ``path``."""
        return subprocess.Popen(["parecord", "-d", source, "--rate", "16000", "--channels", "1", "--format",
                                 "s16le", "--file-format=wav", str(path)], env=env)

    def say(self, wav: Path, env: dict) -> None:
        """Play ``wav`` into the microphone (the person speaking)."""
        subprocess.run(["paplay", "-d", self.mic, str(wav)], env=env, check=True)


class Coach:
    """``voicecoach listen`` running in a room, its printed lines gathered with their times."""

    def __init__(self, args: list[str], env: dict, cwd: Path | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "voicecoach", "listen", *args], env=env, cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip()))

    def wait_for(self, needle: str, timeout: float, *, line_start: bool = False) -> bool:
        """Until a line holds ``needle`` (or, with ``line_start``, begins with it: "voicecoach:"
        holds "coach:")."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(ln.startswith(needle) if line_start else needle in ln for _, ln in list(self.lines)):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> int:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)
        self._reader.join(2)
        return self.proc.returncode

    @property
    def text(self) -> str:
        return "\n".join(ln for _, ln in self.lines)


def at_level(x: np.ndarray, rate: int, peak_db: float, path: Path) -> Path:
    """Speech samples written to ``path`` with their loudest 30 ms at ``peak_db`` dBFS."""
    y = x.astype(np.float64)
    y = y * 10 ** ((peak_db - level_db(to_asr(AudioChunk(rate, x)).samples.astype(np.float64), hop=480)) / 20)
    write_wav(path, AudioChunk(rate, np.clip(np.round(y), -32768, 32767).astype(np.int16)))
    return path


def wav_at_level(src: Path, peak_db: float, path: Path) -> Path:
    c = read_wav(src)
    return at_level(c.samples, c.rate, peak_db, path)


def coach_peak_db() -> float:
    """The loudest 30 ms of the coach's default voice, synthesised here."""
    from voicecoach.commands._common import make_voice
    from voicecoach.config import load_config

    voice = make_voice(load_config(), quiet=True)
    chunk = voice.synthesize("Let's breathe together. In for four.")
    return level_db(to_asr(chunk).samples.astype(np.float64), hop=480)


def frames_db(x: np.ndarray, hop: int = 160) -> np.ndarray:
    n = len(x) // hop
    r = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1))
    return 20 * np.log10(np.maximum(r, 1e-9) / 32768.0)


def level_db(x: np.ndarray, hop: int = 160) -> float:
    return float(frames_db(x, hop).max()) if len(x) >= hop else -120.0


def locate(x: np.ndarray, probe: np.ndarray, guess: float, span: float = 1.5) -> float:
    """Where ``probe`` sits in ``x`` near ``guess`` seconds: phase-transform cross-correlation,
    sharp for the very same samples even under a louder echo."""
    a = max(0, int((guess - span) * 16000))
    b = min(len(x), int((guess + span) * 16000) + len(probe))
    seg = x[a:b]
    if len(seg) < len(probe):
        return guess
    n = 1 << (len(seg) + len(probe)).bit_length()
    r = np.fft.rfft(seg, n) * np.conj(np.fft.rfft(probe, n))
    cc = np.fft.irfft(r / (np.abs(r) + 1e-9), n)[: len(seg) - len(probe) + 1]
    return (a + int(np.argmax(cc))) / 16000


def last_sound(x: np.ndarray, threshold: float = 600) -> float:
    loud = np.flatnonzero(np.abs(x) > threshold)
    return (loud[-1] + 1) / 16000 if loud.size else 0.0


def first_silence(x: np.ndarray, start: float, hold: float, db: float = -50.0) -> float | None:
    """The first time after ``start`` the room stays quieter than ``db`` for ``hold`` seconds."""
    levels = frames_db(x)
    i0 = max(0, int(start * 100))
    need = int(hold * 100)
    run = 0
    for i in range(i0, len(levels)):
        run = run + 1 if levels[i] < db else 0
        if run >= need:
            return (i - need + 1) / 100
    return None


def samples(path: Path) -> np.ndarray:
    """A recording (or a clip) as 16 kHz float samples."""
    return to_asr(read_wav(path)).samples.astype(np.float64)

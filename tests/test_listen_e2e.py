"""End to end through the real audio stack: PulseAudio, PortAudio through the ALSA pulse plugin,
the real recogniser, echo canceller, coach and voice.

A room where the speaker's sink loops back into the microphone's with a delay
(module-loopback latency_msec=60): everything the coach says comes back into its microphone,
louder there than the person, who speaks into the microphone's sink directly. The request and
"stop" are each said once (no retried scenes). The coach's output and the microphone are
recorded apart: the recordings show that "stop" was said while the coach was audibly speaking
and that the coach fell silent soon after it; the coach's lines show that everything heard while
it spoke was either the person's or marked as its own voice."""

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
import pytest

from voicecoach.audio import read_wav, to_asr, write_wav
from voicecoach.config import data_path
from voicecoach.types import AudioChunk


def _pulse_reason() -> str | None:
    if not os.environ.get("VOICECOACH_PULSE"):
        return "VOICECOACH_PULSE is not set (scripts/test.sh starts PulseAudio and sets it)"
    for tool in ("pactl", "paplay", "parecord"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if subprocess.run(["pactl", "info"], capture_output=True).returncode != 0:
        return "PulseAudio is not reachable"
    return None


pytestmark = [pytest.mark.audio, pytest.mark.skipif(_pulse_reason() is not None, reason=str(_pulse_reason()))]


ECHO_MS = 60
PERSON_BELOW_ECHO_DB = 6.0
"""The person's loudest 30 ms this far below the coach's echo's (at the microphone)."""


def _load(*args: str) -> str:
    out = subprocess.run(["pactl", "load-module", *args], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot load {args[0]}: {out.stderr.strip()}")
    return out.stdout.strip()


@pytest.fixture
def room():
    """Two private null sinks, the speaker's and the microphone's, and a delayed loopback from
    the first into the second: the room. Unloaded afterwards."""
    tag = uuid.uuid4().hex[:8]
    spk, mic = f"vc_spk_{tag}", f"vc_mic_{tag}"
    mods = []
    try:
        mods.append(_load("module-null-sink", f"sink_name={spk}", f"sink_properties=device.description={spk}"))
        mods.append(_load("module-null-sink", f"sink_name={mic}", f"sink_properties=device.description={mic}"))
        mods.append(_load("module-loopback", f"source={spk}.monitor", f"sink={mic}", f"latency_msec={ECHO_MS}",
                          "source_dont_move=true", "sink_dont_move=true"))
        yield spk, mic
    finally:
        for m in reversed(mods):
            subprocess.run(["pactl", "unload-module", m], capture_output=True)


def spoken(name: str, tmp: Path, peak_db: float) -> Path:
    """A bundled request at a level: its loudest 30 ms at ``peak_db`` dBFS."""
    c = read_wav(data_path("demo") / f"{name}.wav")
    x = c.samples.astype(np.float64)
    x = x * 10 ** ((peak_db - level_db(to_asr(c).samples.astype(np.float64), hop=480)) / 20)
    p = tmp / f"{name}.wav"
    write_wav(p, AudioChunk(c.rate, np.clip(np.round(x), -32768, 32767).astype(np.int16)))
    return p


def record(source: str, path: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(["parecord", "-d", source, "--rate", "16000", "--channels", "1", "--format", "s16le",
                             "--file-format=wav", str(path)], env=env)


@pytest.mark.parametrize("engine", ["pocketsphinx", "auto"])
def test_the_coach_answers_in_a_room_ignores_its_echo_and_stops(room, tmp_path, voicecoach_home, engine):
    """Real audio on a shared machine, one attempt: every assertion must hold in it. With
    pocketsphinx alone, and with the default engines (whisper decodes the request)."""
    spk, mic = room
    # Not a first run: the one-time spoken disclaimer would talk over the request.
    (voicecoach_home / ".disclaimer-spoken").touch()
    # How loud the coach's echo arrives: its default voice at full volume through the loopback
    # (the loudest 30 ms of its speech are about -10 dBFS); the person is quieter than that.
    person_db = coach_peak_db(tmp_path) - PERSON_BELOW_ECHO_DB
    request, stop = spoken("help-me-breathe", tmp_path, person_db), spoken("stop", tmp_path, person_db)
    env = dict(os.environ, VOICECOACH_HOME=str(voicecoach_home), PULSE_SINK=spk, PULSE_SOURCE=f"{mic}.monitor",
               PYTHONUNBUFFERED="1")
    said_path, heard_path = tmp_path / "coach.wav", tmp_path / "mic.wav"
    recs = [record(f"{spk}.monitor", said_path, env), record(f"{mic}.monitor", heard_path, env)]
    rec_t0 = time.monotonic()
    coach = subprocess.Popen([sys.executable, "-m", "voicecoach", "listen", "--engine", engine,
                              "--max-seconds", "45"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    lines: list[tuple[float, str]] = []

    def pump():
        for line in coach.stdout:
            lines.append((time.monotonic(), line.rstrip()))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    stop_wall = None
    try:
        # Start-up (models, cue cache) is not what this test measures: on a busy machine it can
        # take a minute or more.
        assert wait_for(lines, "listening", 240), text(lines)
        time.sleep(0.5)
        subprocess.run(["paplay", "-d", mic, str(request)], env=env, check=True)
        assert wait_for(lines, "coach:", 15, line_start=True), text(lines)
        time.sleep(2.5)  # well inside the coach's first sentence
        stop_wall = time.monotonic()
        subprocess.run(["paplay", "-d", mic, str(stop)], env=env, check=True)
        wait_for(lines, "session stopped", 3.0)
        time.sleep(1.5)
    finally:
        coach.terminate()
        try:
            coach.wait(15)
        except subprocess.TimeoutExpired:
            coach.kill()
        for r in recs:
            r.terminate()
            r.wait(10)
        reader.join(2)
    out = text(lines)
    assert coach.returncode == 0, out

    # It answered the request with breathing, and stopped when told.
    assert "heard: help me breathe" in out, out
    assert "coach: Let's breathe together" in out, out
    assert "session stopped" in out, out
    # Everything heard while the coach spoke was the person's, or marked as its own voice: the
    # person says only the request (before the coach speaks) and "stop" (whatever it was heard
    # as, a line that comes after it was said is theirs), so a line before that is the coach's.
    first_coach = next(t for t, ln in lines if ln.startswith("coach:"))
    for t, ln in lines:
        if first_coach <= t < stop_wall and ln.startswith("heard:") and "my own voice" not in ln:
            raise AssertionError(f"heard while the coach spoke, before stop, not marked as its own voice: {ln!r}\n{out}")
    # Nothing acted on before the person said stop.
    before = [ln for t, ln in lines if t < stop_wall]
    assert not any("acting on it" in ln or "session stopped" in ln or "***" in ln for ln in before), out

    # From the recordings: "stop" was said while the coach was audibly speaking (its echo at
    # the microphone louder than the person), and the coach fell silent soon after the word.
    said = to_asr(read_wav(said_path)).samples.astype(np.float64)
    heard = to_asr(read_wav(heard_path)).samples.astype(np.float64)
    stop_x = to_asr(read_wav(stop)).samples.astype(np.float64)
    # Searched over seconds, not near the wall-clock guess alone: on a busy machine the recorder
    # can start capturing a second or more after it was launched.
    stop_at = locate(heard, stop_x, stop_wall - rec_t0, span=6.0)
    stop_end = stop_at + last_sound(stop_x, threshold=np.abs(stop_x).max() * 0.05)
    echo_db = level_db(said[int((stop_at - 1.5) * 16000) : int(stop_end * 16000)])
    assert echo_db > level_db(stop_x, hop=480), (echo_db, level_db(stop_x, hop=480))
    while_stop_db = level_db(said[int(stop_at * 16000) : int(stop_end * 16000)])
    assert while_stop_db > -40, f"the coach was not audibly speaking while stop was said: {while_stop_db:.0f} dBFS"
    # Silence that lasts (the session stopped): a pause between the coach's phrases is shorter.
    silent_from = first_silence(said, stop_at, hold=1.0)
    assert silent_from is not None, "the coach went on speaking after stop"
    delay = silent_from - stop_end
    print(f"stop -> silence from the speaker: {delay * 1000:.0f} ms after the end of the word")
    assert delay <= 0.6, delay


def coach_peak_db(tmp: Path) -> float:
    """The loudest 30 ms of the coach's default voice, synthesised here."""
    from voicecoach.commands._common import make_voice
    from voicecoach.config import load_config

    voice = make_voice(load_config(), quiet=True)
    chunk = voice.synthesize("Let's breathe together. In for four.")
    return level_db(to_asr(chunk).samples.astype(np.float64), hop=480)


def wait_for(lines, needle: str, timeout: float, *, line_start: bool = False) -> bool:
    """Until a line holds ``needle`` (or, with ``line_start``, begins with it: "voicecoach:"
    holds "coach:")."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(ln.startswith(needle) if line_start else needle in ln for _, ln in list(lines)):
            return True
        time.sleep(0.05)
    return False


def text(lines) -> str:
    return "\n".join(ln for _, ln in lines)


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

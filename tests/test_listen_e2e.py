"""End to end through the real audio stack: PulseAudio, PortAudio through the ALSA pulse plugin,
the real recogniser, coach and voice.

The coach's speaker and microphone share one null sink, as in a room: everything it says comes
back into its microphone. A spoken request is played into the room, the room is recorded, and
the recording shows that the coach answered, did not react to its own voice, and fell silent
when "stop" was said over it. The person's voice is louder in the room than the coach's (they
are by the microphone; the bedside speaker is turned down), as at night."""

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


@pytest.fixture
def room():
    """A private null sink: the room. Unloaded afterwards."""
    name = f"vc_room_{uuid.uuid4().hex[:8]}"
    out = subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={name}",
                          f"sink_properties=device.description={name}"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot create a PulseAudio null sink: {out.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["pactl", "unload-module", out.stdout.strip()], capture_output=True)


def loud(name: str, tmp: Path) -> Path:
    """A bundled request, normalised (the person is close to the microphone)."""
    c = read_wav(data_path("demo") / f"{name}.wav")
    x = c.samples.astype(np.float64)
    x = x / max(1.0, np.abs(x).max()) * 30000
    p = tmp / f"{name}.wav"
    write_wav(p, AudioChunk(c.rate, x.astype(np.int16)))
    return p


def test_the_coach_answers_in_a_room_ignores_itself_and_stops(room, tmp_path, voicecoach_home):
    """Real audio through a shared sink on a shared machine: a person who is not understood says
    it again, and so does this test, with the whole scene once more (a fresh data directory and
    recording). Every assertion must hold in one attempt."""
    failures = []
    for attempt in range(2):
        home = tmp_path / f"home{attempt}"
        work = tmp_path / f"try{attempt}"
        home.mkdir()
        work.mkdir()
        try:
            _room_scene(room, work, home)
            return
        except AssertionError as exc:
            failures.append(exc)
    raise failures[-1]


def _room_scene(room, tmp_path, voicecoach_home):
    (voicecoach_home / "config.yaml").write_text("voice:\n  volume: 0.25\n", encoding="utf-8")
    # Not a first run: the one-time spoken disclaimer would talk over the request.
    (voicecoach_home / ".disclaimer-spoken").touch()
    request, stop = loud("help-me-breathe", tmp_path), loud("stop", tmp_path)
    env = dict(os.environ, VOICECOACH_HOME=str(voicecoach_home), PULSE_SINK=room, PULSE_SOURCE=f"{room}.monitor", PYTHONUNBUFFERED="1")
    rec_path = tmp_path / "room.wav"
    rec = subprocess.Popen(["parecord", "-d", f"{room}.monitor", "--rate", "16000", "--channels", "1",
                            "--format", "s16le", "--file-format=wav", str(rec_path)], env=env)
    rec_t0 = time.monotonic()
    coach = subprocess.Popen([sys.executable, "-m", "voicecoach", "listen", "--engine", "pocketsphinx",
                              "--max-seconds", "45"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    lines: list[tuple[float, str]] = []

    def pump():
        for line in coach.stdout:
            lines.append((time.monotonic(), line.rstrip()))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert wait_for(lines, "listening", 60), text(lines)
        time.sleep(0.5)
        # A person who is not understood says it again; so does this test, once.
        for _ in range(2):
            subprocess.run(["paplay", "-d", room, str(request)], env=env, check=True)
            if wait_for(lines, "coach:", 4):
                break
        assert wait_for(lines, "coach:", 1), text(lines)
        time.sleep(2.5)  # well inside the coach's first sentence
        for _ in range(2):
            stop_wall = time.monotonic()
            subprocess.run(["paplay", "-d", room, str(stop)], env=env, check=True)
            if wait_for(lines, "session stopped", 1.5):
                break
        time.sleep(2.0)
    finally:
        coach.terminate()
        try:
            coach.wait(15)
        except subprocess.TimeoutExpired:
            coach.kill()
        rec.terminate()
        rec.wait(10)
        reader.join(2)
    out = text(lines)
    assert coach.returncode == 0, out

    # It answered the request with breathing.
    assert "heard: help me breathe" in out, out
    assert "coach: Let's breathe together" in out, out
    # It did not react to its own voice: nothing acted on before the person said stop.
    before = [ln for t, ln in lines if t < stop_wall]
    assert not any("acting on it" in ln or "session stopped" in ln or "***" in ln for ln in before), out
    # It stopped when told.
    assert "session stopped" in out, out

    # From the recording: the coach spoke after the request, and was silent soon after "stop".
    room_audio = to_asr(read_wav(rec_path))
    x = room_audio.samples.astype(np.float64)
    stop_x = to_asr(read_wav(stop)).samples.astype(np.float64)
    guess = stop_wall - rec_t0
    stop_at = locate(x, stop_x, guess)
    stop_end = stop_at + last_sound(stop_x)
    silent_from = first_silence(x, stop_at, hold=1.0)
    assert silent_from is not None, "the coach went on speaking after stop"
    delay = silent_from - stop_end
    print(f"stop -> silence in the room: {delay * 1000:.0f} ms after the end of the word "
          f"({(silent_from - stop_at) * 1000:.0f} ms after its start)")
    assert delay <= 0.6, delay
    # The coach's voice was in the room between the request and the stop.
    speech_db = level_db(x[int((stop_at - 2.0) * 16000) : int((stop_at - 0.1) * 16000)])
    assert speech_db > -45, speech_db


def wait_for(lines, needle: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(needle in ln for _, ln in lines):
            return True
        time.sleep(0.05)
    return False


def text(lines) -> str:
    return "\n".join(ln for _, ln in lines)


def frames_db(x: np.ndarray, hop: int = 160) -> np.ndarray:
    n = len(x) // hop
    r = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1))
    return 20 * np.log10(np.maximum(r, 1e-9) / 32768.0)


def level_db(x: np.ndarray) -> float:
    return float(frames_db(x).max()) if len(x) >= 160 else -120.0


def locate(x: np.ndarray, probe: np.ndarray, guess: float, span: float = 1.5) -> float:
    """Where ``probe`` sits in ``x`` near ``guess`` seconds (cross-correlation)."""
    a = max(0, int((guess - span) * 16000))
    b = min(len(x), int((guess + span) * 16000) + len(probe))
    seg = x[a:b]
    if len(seg) < len(probe):
        return guess
    corr = np.correlate(seg, probe, mode="valid")
    return (a + int(np.argmax(corr))) / 16000


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

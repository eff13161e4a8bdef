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
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from voicecoach.config import data_path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import pulse_room as room_  # noqa: E402


def _pulse_reason() -> str | None:
    if not os.environ.get("VOICECOACH_PULSE"):
        return "VOICECOACH_PULSE is not set (scripts/test.sh starts PulseAudio and sets it)"
    return room_.unavailable()


pytestmark = [pytest.mark.audio, pytest.mark.skipif(_pulse_reason() is not None, reason=str(_pulse_reason()))]


PERSON_BELOW_ECHO_DB = 6.0
"""The person's loudest 30 ms this far below the coach's echo's (at the microphone)."""


@pytest.fixture
def room():
    """The room (scripts/pulse_room.py): unloaded afterwards."""
    try:
        with room_.PulseRoom() as r:
            yield r
    except room_.RoomError as exc:
        pytest.skip(str(exc))


def spoken(name: str, tmp: Path, peak_db: float) -> Path:
    """A bundled request at a level: its loudest 30 ms at ``peak_db`` dBFS."""
    return room_.wav_at_level(data_path("demo") / f"{name}.wav", peak_db, tmp / f"{name}.wav")


@pytest.mark.parametrize("engine", ["pocketsphinx", "auto"])
def test_the_coach_answers_in_a_room_ignores_its_echo_and_stops(room, tmp_path, voicecoach_home, engine):
    """Real audio on a shared machine, one attempt: every assertion must hold in it. With
    pocketsphinx alone, and with the default engines (whisper decodes the request)."""
    # Not a first run: the one-time spoken disclaimer would talk over the request.
    (voicecoach_home / ".disclaimer-spoken").touch()
    # How loud the coach's echo arrives: its default voice at full volume through the loopback
    # (the loudest 30 ms of its speech are about -10 dBFS); the person is quieter than that.
    person_db = room_.coach_peak_db() - PERSON_BELOW_ECHO_DB
    request, stop = spoken("help-me-breathe", tmp_path, person_db), spoken("stop", tmp_path, person_db)
    env = room.env(voicecoach_home)
    said_path, heard_path = tmp_path / "coach.wav", tmp_path / "mic.wav"
    recs = [room.record(f"{room.spk}.monitor", said_path, env), room.record(f"{room.mic}.monitor", heard_path, env)]
    rec_t0 = time.monotonic()
    coach = room_.Coach(["--engine", engine, "--max-seconds", "45"], env)
    stop_wall = None
    try:
        # Start-up (models, cue cache) is not what this test measures: on a busy machine it can
        # take a minute or more.
        assert coach.wait_for("listening", 240), coach.text
        time.sleep(0.5)
        room.say(request, env)
        assert coach.wait_for("coach:", 15, line_start=True), coach.text
        time.sleep(2.5)  # well inside the coach's first sentence
        stop_wall = time.monotonic()
        room.say(stop, env)
        coach.wait_for("session stopped", 3.0)
        time.sleep(1.5)
    finally:
        rc = coach.close()
        for r in recs:
            r.terminate()
            r.wait(10)
    out, lines = coach.text, coach.lines
    assert rc == 0, out

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
    said, heard, stop_x = room_.samples(said_path), room_.samples(heard_path), room_.samples(stop)
    # Searched over seconds, not near the wall-clock guess alone: on a busy machine the recorder
    # can start capturing a second or more after it was launched.
    stop_at = room_.locate(heard, stop_x, stop_wall - rec_t0, span=6.0)
    stop_end = stop_at + room_.last_sound(stop_x, threshold=np.abs(stop_x).max() * 0.05)
    echo_db = room_.level_db(said[int((stop_at - 1.5) * 16000) : int(stop_end * 16000)])
    assert echo_db > room_.level_db(stop_x, hop=480), (echo_db, room_.level_db(stop_x, hop=480))
    while_stop_db = room_.level_db(said[int(stop_at * 16000) : int(stop_end * 16000)])
    assert while_stop_db > -40, f"the coach was not audibly speaking while stop was said: {while_stop_db:.0f} dBFS"
    # Silence that lasts (the session stopped): a pause between the coach's phrases is shorter.
    silent_from = room_.first_silence(said, stop_at, hold=1.0)
    assert silent_from is not None, "the coach went on speaking after stop"
    delay = silent_from - stop_end
    print(f"stop -> silence from the speaker: {delay * 1000:.0f} ms after the end of the word")
    assert delay <= 0.6, delay

"""Speech synthesis with the real engines (pyttsx3 and espeak-ng); only a misbehaving pyttsx3
driver is simulated, at pyttsx3's own driver boundary, to prove the timeout path."""

from __future__ import annotations

import sys
import threading
import types

import numpy as np
import pytest

from voicecoach.config import VoiceConfig
from voicecoach.errors import EngineUnavailable, VoicecoachError
from voicecoach.tts.base import (
    NO_ENGINE_REASON,
    TAIL_SECONDS,
    SilentVoice,
    Voice,
    VoiceSettings,
    estimate_seconds,
    fade_out,
    trim_silence,
)
from voicecoach.tts.espeak import EspeakVoice, find_espeak
from voicecoach.tts.pyttsx3_voice import Pyttsx3Voice
from voicecoach.tts.registry import make_voice
from voicecoach.types import AudioChunk

from helpers import FakePyttsx3Driver

THRESHOLD = 100  # int16 amplitude: about -50 dBFS

needs_espeak = pytest.mark.skipif(find_espeak() is None, reason="espeak-ng is not installed")


def first_loud(chunk: AudioChunk, threshold: int = THRESHOLD) -> int:
    loud = np.flatnonzero(np.abs(chunk.samples.astype(np.int32)) > threshold)
    return int(loud[0]) if loud.size else -1


def last_loud(chunk: AudioChunk, threshold: int = THRESHOLD) -> int:
    loud = np.flatnonzero(np.abs(chunk.samples.astype(np.int32)) > threshold)
    return int(loud[-1]) if loud.size else -1


@pytest.fixture(scope="module", params=["pyttsx3", "espeak"])
def voice(request):
    if find_espeak() is None:
        pytest.skip("espeak-ng is not installed")
    v = Pyttsx3Voice(160, 1.0) if request.param == "pyttsx3" else EspeakVoice(160, 1.0)
    yield v
    v.close()


@pytest.mark.parametrize("text", ["Breathe in", "Hold", "And breathe out, slowly."])
def test_cue_starts_at_sample_zero_and_ends_with_a_short_tail(voice, text):
    chunk = voice.synthesize(text)
    assert isinstance(voice, Voice)
    assert chunk.samples.dtype == np.int16 and chunk.samples.ndim == 1
    assert chunk.rate == 22050
    assert chunk.seconds > 0.2
    # Leading silence trimmed: sound within 10 ms of sample 0 (in fact at sample 0).
    assert 0 <= first_loud(chunk) <= 0.010 * chunk.rate
    # Trailing silence trimmed to the short tail.
    tail = (chunk.frames - 1 - last_loud(chunk)) / chunk.rate
    assert tail <= TAIL_SECONDS + 0.001


def test_cache_returns_the_identical_array_fast(voice):
    voice.cache.clear()
    text = "Breathe in slowly through your nose"
    first = voice.synthesize(text)
    again = voice.synthesize(text)  # the same array, not synthesised again (timings: scripts/bench.py)
    assert again is first and again.samples is first.samples
    assert not first.samples.flags.writeable  # shared, so nobody may change it
    # Whitespace differences are the same cue.
    assert voice.synthesize("  Breathe in   slowly through your nose ") is first
    # Different settings are a different cue.
    assert voice.synthesize(text, VoiceSettings(rate=0.7)) is not first


def test_rate_and_volume(voice):
    slow = voice.synthesize("Let your shoulders drop", VoiceSettings(rate=0.6))
    fast = voice.synthesize("Let your shoulders drop", VoiceSettings(rate=1.4))
    assert slow.seconds > fast.seconds * 1.5
    loud = voice.synthesize("Let your shoulders drop")
    soft = voice.synthesize("Let your shoulders drop", VoiceSettings(volume=0.5))
    ratio = np.abs(soft.samples.astype(int)).max() / np.abs(loud.samples.astype(int)).max()
    assert 0.45 < ratio < 0.55


def test_a_named_voice_and_an_unknown_one(voice):
    french = voice.synthesize("bonjour", VoiceSettings(voice="fr"))
    assert french.seconds > 0.2
    # An unknown voice must not silence the coach: the default voice speaks.
    odd = voice.synthesize("hello there", VoiceSettings(voice="no-such-voice-xyz"))
    assert odd.seconds > 0.2


def test_empty_text_is_an_empty_chunk(voice):
    assert voice.synthesize("   ").frames == 0


# --------------------------------------------------------------------------- a misbehaving driver

_release = threading.Event()


class _TroubleDriver(FakePyttsx3Driver):
    """A pyttsx3 driver that writes a tone, except: text containing "hang" never finishes
    (runAndWait never returns), and text containing "explode" raises the first time, the way
    a re-entered engine raises "run loop already started"."""

    exploded = False

    def startLoop(self):
        self._looping = True
        self._proxy.setBusy(False)  # runs the queued commands (save_to_file, endLoop)
        if "explode" in self._text and not _TroubleDriver.exploded:
            _TroubleDriver.exploded = True
            raise RuntimeError("run loop already started")
        if "hang" in self._text:
            _release.wait(30)
            return
        self.write_tone(0.3, lead=0.02, tail=0.2)


@pytest.fixture()
def trouble_driver(monkeypatch):
    module = types.ModuleType("pyttsx3.drivers.vctrouble")
    module.buildDriver = lambda proxy: _TroubleDriver(proxy)
    monkeypatch.setitem(sys.modules, "pyttsx3.drivers.vctrouble", module)
    _release.clear()
    _TroubleDriver.exploded = False
    yield "vctrouble"
    _release.set()  # let the abandoned worker thread finish


def test_a_hanging_engine_fails_that_request_and_is_rebuilt(trouble_driver):
    v = Pyttsx3Voice(160, 1.0, timeout=0.5, driver=trouble_driver)
    try:
        ok = v.synthesize("hello")
        assert 0.3 <= ok.seconds <= 0.3 + TAIL_SECONDS + 0.01 and first_loud(ok) == 0
        with pytest.raises(VoicecoachError, match="did not finish"):
            v.synthesize("please hang")  # returns on its timeout: the driver would hang 30 s
        # The next request gets a fresh engine on a fresh worker.
        after = v.synthesize("and again")
        assert after.seconds > 0.3 and v.rebuilds == 1 and v.hangs == 0
    finally:
        v.close()


def test_an_engine_that_keeps_hanging_is_given_up(trouble_driver):
    v = Pyttsx3Voice(160, 1.0, timeout=0.2, driver=trouble_driver, max_hangs=2)
    try:
        for i in range(2):
            with pytest.raises(VoicecoachError):
                v.synthesize(f"hang {i}")
        with pytest.raises(EngineUnavailable, match="giving up"):
            v.synthesize("hello")
    finally:
        v.close()


def test_run_loop_already_started_is_retried_on_a_fresh_engine(trouble_driver):
    v = Pyttsx3Voice(160, 1.0, timeout=2.0, driver=trouble_driver)
    try:
        chunk = v.synthesize("explode once")
        assert chunk.seconds > 0.3 and v.rebuilds == 1
    finally:
        v.close()


# --------------------------------------------------------------------------- choosing an engine


@needs_espeak
def test_make_voice_uses_the_configured_engine():
    v = make_voice(VoiceConfig(engine="pyttsx3", rate=160, volume=0.9))
    try:
        assert v.name == "pyttsx3" and v.fallback_reason is None
        assert v.synthesize("Breathe in").seconds > 0.2
    finally:
        v.close()
    v = make_voice(VoiceConfig(engine="espeak"))
    assert v.name == "espeak" and v.fallback_reason is None
    v.close()


def test_mute_and_engine_none_are_silent_without_a_reason():
    for v in (make_voice(VoiceConfig(), mute=True), make_voice(VoiceConfig(engine="none"))):
        assert v.name == "silent" and v.fallback_reason is None


@needs_espeak
def test_falls_back_to_espeak_when_pyttsx3_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyttsx3", None)  # import pyttsx3 -> ImportError
    v = make_voice(VoiceConfig(engine="pyttsx3"))
    try:
        assert v.name in ("festival", "espeak")  # the next engine in the auto order that works
        assert "pyttsx3 is not installed" in v.fallback_reason and v.name in v.fallback_reason
        assert v.synthesize("Hold").seconds > 0.2
    finally:
        v.close()


def test_falls_back_to_silence_with_one_reason_when_nothing_works(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyttsx3", None)
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on the PATH
    v = make_voice(VoiceConfig(engine="pyttsx3"))
    assert v.name == "silent"
    assert v.fallback_reason == NO_ENGINE_REASON
    assert v.synthesize("Breathe in").seconds > 0.5


def test_espeak_missing_is_engine_unavailable(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailable, match="espeak-ng is not installed"):
        EspeakVoice()


# --------------------------------------------------------------------------- silent voice, helpers


def test_silent_voice_estimates_durations():
    v = SilentVoice(160)
    hold = v.synthesize("Hold")
    long = v.synthesize("Breathe in through your nose, and let your belly rise.")
    assert not hold.samples.any() and hold.seconds > 0.3
    assert long.seconds > 2 * hold.seconds
    assert v.synthesize("Hold", VoiceSettings(rate=0.5)).seconds > hold.seconds * 1.3
    assert v.synthesize("Hold") is hold
    assert v.synthesize("").frames == 0
    assert estimate_seconds("one two. three four", 120) > estimate_seconds("one two three four", 120)


@needs_espeak
def test_silent_estimate_is_close_to_real_speech():
    real = EspeakVoice(160)
    for text in ["Breathe in", "Breathe out slowly", "Breathe in. Two, three, four."]:
        spoken = real.synthesize(text).seconds
        assert abs(estimate_seconds(text, 160) - spoken) < 0.35 * spoken, text


def test_trim_silence():
    x = np.zeros(1000, np.int16)
    x[300:400] = 5000
    out = trim_silence(AudioChunk(10000, x), tail=0.01)
    assert out.frames == 100 + 100 and out.samples[0] == 5000
    assert trim_silence(AudioChunk(10000, np.zeros(50, np.int16))).frames == 0


def test_fade_out():
    x = np.full(1000, 10000, np.int16)
    x.setflags(write=False)
    chunk = AudioChunk(1000, x)
    faded = fade_out(chunk, 0.5)
    assert faded.frames == 1000
    assert (faded.samples[:500] == 10000).all()
    assert faded.samples[-1] == 0 and faded.samples[750] < 6000
    assert np.all(np.diff(faded.samples[500:].astype(int)) <= 0)
    assert (x == 10000).all()  # the (cached) original is untouched
    assert fade_out(chunk, 5).samples[0] == 10000 and fade_out(chunk, 0).samples[-1] == 10000

"""A reply as soon as the words are known: the request decision done ahead at a pause, and the
shorter endpoint it allows, decoded for real (espeak-ng speech, whisper + pocketsphinx). The
times here are on the audio clock, never the wall clock: the background decode is waited for
before the next frame is fed, as if the machine were fast enough."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from voicecoach.audio import read_wav, to_asr, write_wav
from voicecoach.types import AudioChunk

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

FRAME = 480


def say(tmp: Path, name: str, text: str, voice: str = "en-us+f2") -> np.ndarray:
    raw = tmp / f"{name}.raw.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "130", "-w", str(raw), text], check=True)
    out = tmp / f"{name}.wav"
    write_wav(out, to_asr(read_wav(raw)))
    return to_asr(read_wav(out)).samples


@pytest.fixture(scope="module")
def speech():
    from voicecoach.asr import load_speech
    from voicecoach.config import load_config

    sp = load_speech(load_config())
    if getattr(sp.dictation, "name", "") != "whisper" or sp.check is None:
        pytest.skip("whisper and pocketsphinx are not both installed (request mode is one engine)")
    return sp


@pytest.fixture(scope="module")
def matcher():
    from voicecoach.intents import load_matcher

    return load_matcher(Path("/nonexistent-home"))


def _hear(speech, matcher, audio: np.ndarray):
    """Feed ``audio`` to a speculating ear frame by frame, waiting for each background decode
    to finish before the next frame: the final results."""
    from voicecoach.asr.command import incomplete
    from voicecoach.ear import Ear, EarState

    def complete(text: str) -> bool:
        m = matcher.match(text)
        return not incomplete(text) and (m.crisis or m.name is not None)

    ear = Ear(speech, EarState(mode="request", silence={"request": 0.5, "command": 0.3, "dictation": 1.2}),
              complete=complete, speculate=True)
    finals = []
    for i in range(0, len(audio), FRAME):
        finals += [h for h in ear.process(audio[i:i + FRAME], (i + FRAME) / 16000) if h.final]
        if ear._spec is not None:
            ear._spec[1].result()
    return finals


def test_a_complete_request_ends_sooner_once_decoded_and_a_crisis_statement_does_not(speech, matcher, tmp_path):
    from voicecoach.ear import COMPLETE_REQUEST_SILENCE

    pad = np.zeros(8000, np.int16)
    tail = np.zeros(24000, np.int16)
    (req,) = _hear(speech, matcher, np.concatenate([pad, say(tmp_path, "req", "help me breathe"), tail]))
    assert matcher.match(req.text).name == "breathe", req.text
    assert req.at - req.end <= COMPLETE_REQUEST_SILENCE + 2 * FRAME / 16000
    (crisis,) = _hear(speech, matcher, np.concatenate([pad, say(tmp_path, "crisis", "i want to die"), tail]))
    assert matcher.match(crisis.text).crisis, crisis.text
    assert crisis.at - crisis.end > COMPLETE_REQUEST_SILENCE + FRAME / 16000


def test_the_decision_prepared_at_a_pause_is_the_decision_at_the_endpoint(speech, tmp_path):
    """``prepare_open`` (the background decode) then ``finish_open`` decides as ``finish``
    alone: for a request, a crisis statement and speech that is neither."""
    for i, text in enumerate(["help me relax", "i want to kill myself", "the kettle has just boiled"]):
        chunk = AudioChunk(16000, say(tmp_path, f"s{i}", text))
        plain = speech.recognizer("request")
        plain.start()
        plain.accept(chunk)
        want = plain.finish()
        ahead = speech.recognizer("request")
        ahead.start()
        ahead.accept(chunk)
        open_rec = speech.dictation.recognizer("request", speech.phrases)
        open_rec.start()
        open_rec.accept(chunk)
        o = open_rec.finish()
        ahead.prepare_open(open_rec, o)
        got = ahead.finish_open(open_rec, o)
        assert (got.text, ahead.choice.source) == (want.text, plain.choice.source), text


def test_the_second_opinion_is_decoded_once(speech, tmp_path):
    rec = speech.dictation.recognizer("request", speech.phrases)
    rec.start()
    rec.accept(AudioChunk(16000, say(tmp_path, "q", "can we breathe")))
    rec.finish()
    assert rec.window < 30
    first = rec.second_opinion()
    assert first is not None and rec.window == 30
    assert rec.second_opinion() is first


def test_a_confident_request_is_not_decoded_again_for_the_grammars_guess(speech, matcher, tmp_path):
    """The grammar is sure of some phrase for nearly any speech (in this voice, "bye" for "i'm
    anxious"); a phrase the audio does not support is no reason to decode the request again on
    30 s after the endpoint."""
    rec = speech.recognizer("request")
    rec.start()
    rec.accept(AudioChunk(16000, say(tmp_path, "q", "i'm anxious", voice="en-us")))
    tr = rec.finish()
    assert matcher.match(tr.text).name == "anxious"
    assert rec.open_rec.window < 30, (rec.choice.closed.text, rec.choice.reason)


def test_a_reply_that_starts_a_script_waits_on_no_synthesis(tmp_path):
    """The lines a script opens with are rendered ahead with its breathing cues: the coach
    planning the reply (it asks the voice for each cue's length) finds them all made."""
    from voicecoach.coach import Coach
    from voicecoach.cue_plan import warm
    from voicecoach.intents import load_matcher
    from voicecoach.scripts import Library
    from voicecoach.tts.base import clean
    from voicecoach.tts.espeak import EspeakVoice

    library = Library.load()
    voice = EspeakVoice(160, 0.9)
    try:
        warm(voice, [library.get(i) for i in ("box-breathing", "grounding-54321", "muscle-relaxation")],
             root=tmp_path)
        misses: list[str] = []

        def length(text, settings):
            if (clean(text), settings) not in voice.cache:
                misses.append(text)
            return voice.synthesize(text, settings).seconds

        for said in ("help me breathe", "ground me", "help me relax"):
            coach = Coach(library, length, matcher=load_matcher(tmp_path / "home"))
            coach.begin(0.0, None)
            misses.clear()
            coach.hear(1.0, said)
            assert coach.engine is not None, said
            assert not misses, (said, misses)
    finally:
        voice.close()


def test_the_coachs_own_lines_wait_on_no_synthesis(tmp_path):
    """The coach's fixed lines (help, goodbye, the direct question about safety) are made before
    a live session: answering "help" or a worrying statement asks the voice for nothing new."""
    from voicecoach.coach import FIXED_LINES, Coach
    from voicecoach.cue_plan import warm
    from voicecoach.intents import load_matcher
    from voicecoach.scripts import Library
    from voicecoach.tts.base import clean
    from voicecoach.tts.espeak import EspeakVoice

    library = Library.load()
    voice = EspeakVoice(160, 0.9)
    try:
        misses: list[str] = []

        def length(text, settings):
            if (clean(text), settings) not in voice.cache:
                misses.append(text)
            return voice.synthesize(text, settings).seconds

        matcher = load_matcher(tmp_path / "home")
        for said in ("what can you do", "what's the point", "bye"):
            coach = Coach(library, length, matcher=matcher)
            warm(voice, [], coach.base_voice, root=tmp_path, lines=FIXED_LINES)
            coach.begin(0.0, None)
            misses.clear()
            assert coach.hear(1.0, said), said
            assert not misses, (said, misses)
    finally:
        voice.close()

"""Every built-in script renders to real speech, and a real recogniser run over the render finds
the script's own words in it. (pyttsx3/espeak-ng synthesis, the real engine and coach in virtual
time, the default dictation recogniser.)"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from voicecoach.audio import to_asr
from voicecoach.config import load_config
from voicecoach.scripts import Library
from voicecoach.session import make_coach, render_session
from voicecoach.tts.registry import make_voice
from voicecoach.types import AudioChunk

from conftest import run_cli

ALL = {
    "check-in", "box-breathing", "breathing-478", "resonance-breathing", "cyclic-sighing",
    "grounding-54321", "muscle-relaxation", "bedtime", "thought-record", "i-statement",
    "urge-delay", "self-soothing", "self-compassion", "triggers-check-in", "learn-attachment",
    "professional-help", "crisis-support", "partner-support", "sense-of-self", "strengths",
    "secure-partner",
}
SHORT = {  # keep the long sessions short; content is the same
    "box-breathing": {"cycles": 1}, "breathing-478": {"cycles": 1}, "cyclic-sighing": {"minutes": 1},
    "resonance-breathing": {"minutes": 1}, "bedtime": {"breath_minutes": 1, "sleep_timer": 1, "silence": 2},
    "muscle-relaxation": {"tense_seconds": 2, "release_seconds": 3}, "urge-delay": {"minutes": 1},
}
ANSWERS = ["five", "he didn't text back", "anxious", "seven", "next", "yes", "fifty", "no"]
STOP = {"the", "a", "an", "and", "or", "to", "of", "you", "your", "it", "is", "that", "this", "in",
        "on", "for", "with", "as", "be", "i", "i'm", "can", "we", "if", "at", "so", "just", "are"}


def test_scripts_list_names_all_twenty_one():
    r = run_cli("scripts", "list", "--json")
    assert r.returncode == 0, r.stderr
    assert ALL <= {row["id"] for row in json.loads(r.stdout)}


@pytest.fixture(scope="module")
def kit():
    from voicecoach.asr import load_speech

    config = load_config()
    library = Library.load(None)
    voice = make_voice(config.voice)
    if getattr(voice, "fallback_reason", None):
        pytest.skip(voice.fallback_reason)
    speech = load_speech(config)
    return config, library, voice, speech


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']+", text.lower()) if w not in STOP and len(w) > 2}


@pytest.mark.slow
@pytest.mark.parametrize("script_id", sorted(ALL))
def test_script_renders_to_speech_a_recogniser_understands(kit, script_id):
    config, library, voice, speech = kit
    coach = make_coach(config, library, voice, answer_timeout=5.0, home=False)
    rendered = render_session(coach, voice, script_id, SHORT.get(script_id), ANSWERS)
    assert rendered.audio.seconds > 3
    spoken = [c for c in rendered.cues if not c.phase and len(c.text.split()) >= 4][:3]
    assert spoken, "no sentences spoken"
    rate = rendered.audio.rate
    pieces = [rendered.audio.samples[int(c.t * rate): int((c.t + c.duration) * rate)] for c in spoken]
    gap = np.zeros(int(0.4 * rate), dtype=np.int16)
    audio = to_asr(AudioChunk(rate, np.concatenate([p for piece in pieces for p in (piece, gap)])))
    rec = speech.recognizer("dictation")
    rec.start()
    step = 3200
    for i in range(0, audio.frames, step):
        rec.accept(AudioChunk(16000, audio.samples[i:i + step]))
    heard = words(rec.finish().text)
    expected = words(" ".join(c.text for c in spoken))
    found = expected & heard
    assert len(found) >= 0.5 * len(expected), (script_id, sorted(expected - heard), sorted(heard))


@pytest.mark.slow
@pytest.mark.parametrize("script_id", ["sense-of-self", "strengths", "secure-partner"])
def test_guide_sessions_render_with_no_answers_given(kit, script_id):
    """Nobody answers: every question times out, the session still plays to its end, and no
    answer's place is left empty in what is said."""
    config, library, voice, _ = kit
    coach = make_coach(config, library, voice, answer_timeout=3.0, home=False)
    rendered = render_session(coach, voice, script_id, None, [])
    assert rendered.ended == [(script_id, "completed")]
    assert rendered.audio.seconds > 20 and np.abs(rendered.audio.samples).max() > 1000
    texts = [c.text for c in rendered.cues]
    assert not any("{" in t or ": ." in t or "  " in t for t in texts), texts
    assert texts[-1] == library.get(script_id).steps[-2].text[-1]

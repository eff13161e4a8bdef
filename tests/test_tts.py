"""The speech engines behind one Voice interface, chosen by auto, with calm delivery as data and
a cue cache on disk. Real Festival (HTS voice) and espeak-ng synthesis throughout."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voicecoach.config import VoiceConfig
from voicecoach.cue_plan import fixed_cues, warm
from voicecoach.engine import Speak
from voicecoach.script_parser import cue_warnings
from voicecoach.scripts import Library, load_script_text
from voicecoach.tts import festival
from voicecoach.tts.base import VoiceSettings
from voicecoach.tts.cues import DiskCues
from voicecoach.tts.delivery import MAX_SPEEDUP, fade_level, fit
from voicecoach.tts.espeak import EspeakVoice, find_espeak
from voicecoach.tts.registry import auto_order, installed_voices, make_voice

from conftest import run_cli
from helpers import run_dialogue

needs_festival = pytest.mark.skipif(festival.available() is not None, reason=str(festival.available()))
needs_espeak = pytest.mark.skipif(find_espeak() is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def fest():
    if festival.available() is not None:
        pytest.skip(str(festival.available()))
    v = festival.FestivalVoice(160, 1.0)
    yield v
    v.close()


def voices_under_test():
    out = []
    if festival.available() is None:
        out.append("festival")
    if find_espeak() is not None:
        out.append("espeak")
    return out


@pytest.fixture(scope="module", params=["festival", "espeak"])
def any_voice(request):
    if request.param not in voices_under_test():
        pytest.skip(f"{request.param} is not installed")
    v = festival.FestivalVoice(160, 0.9) if request.param == "festival" else EspeakVoice(160, 0.9)
    yield v
    v.close()


# --------------------------------------------------------------------------- choosing


def test_auto_order_puts_the_platform_voice_first_on_macos_and_windows():
    assert auto_order("darwin")[0] == "pyttsx3" and auto_order("win32")[0] == "pyttsx3"
    assert auto_order("linux") == ["festival", "piper", "pyttsx3", "espeak"]
    assert auto_order("linux")[-1] == "espeak"


@needs_festival
def test_auto_is_festival_on_debian_when_installed():
    v = make_voice(VoiceConfig(engine="auto"))
    try:
        assert v.name == "festival" and v.fallback_reason is None
        assert v.voice_name == "cmu_us_slt_arctic_hts"
    finally:
        v.close()
    assert ("festival", "cmu_us_slt_arctic_hts") in [(i.engine, i.name) for i in installed_voices()]


@needs_festival
def test_voices_json_names_the_voice_in_use():
    r = run_cli("voices", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert set(data) == {"in_use", "installed"}
    assert data["in_use"] == {"engine": "festival", "name": "cmu_us_slt_arctic_hts"}
    assert all(set(v) == {"engine", "name"} for v in data["installed"])
    assert {v["engine"] for v in data["installed"]} <= {"pyttsx3", "festival", "piper", "espeak"}


def test_a_missing_engine_says_how_to_install_it(voicecoach_home):
    (voicecoach_home / "config.yaml").write_text("voice:\n  engine: piper\n")
    try:
        r = run_cli("voices", "--json")
    finally:
        (voicecoach_home / "config.yaml").unlink()
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "piper-tts is not installed (pip install" in r.stderr


def test_an_unknown_engine_in_config_names_the_key(voicecoach_home):
    (voicecoach_home / "config.yaml").write_text("voice:\n  engine: robot\n")
    try:
        r = run_cli("voices")
    finally:
        (voicecoach_home / "config.yaml").unlink()
    assert r.returncode == 1 and "voice.engine" in r.stderr and "festival" in r.stderr


# --------------------------------------------------------------------------- each engine


@pytest.mark.parametrize("text", ["Breathe in", "Hold", "And breathe out, slowly."])
def test_every_engine_starts_on_sample_zero_at_its_real_rate(any_voice, text):
    chunk = any_voice.synthesize(text)
    assert chunk.rate == (32000 if any_voice.name == "festival" else 22050)
    x = np.abs(chunk.samples.astype(np.int32))
    assert x[0] > 100 and 0.2 < chunk.seconds < 4


def test_rate_pitch_and_sentence_pauses(any_voice):
    text = "Let your shoulders drop. Follow my voice."
    plain = any_voice.synthesize(text)
    slower = any_voice.synthesize(text, VoiceSettings(rate=0.7))
    paused = any_voice.synthesize(text, VoiceSettings(sentence_pause=1.0))
    lower = any_voice.synthesize(text, VoiceSettings(pitch=0.85))
    assert slower.seconds > plain.seconds * 1.2
    assert paused.seconds > plain.seconds + 0.8
    assert abs(lower.seconds - plain.seconds) < 0.25 * plain.seconds  # pitch keeps the length
    assert not np.array_equal(lower.samples[:1000], plain.samples[:1000])


def test_festival_survives_quotes_and_backslashes(fest):
    assert fest.synthesize('She said "breathe" \\ slowly').seconds > 0.5


def test_festival_restarts_after_its_process_dies(fest):
    fest._proc.kill()
    fest._proc.wait()
    assert fest.synthesize("Breathe out, and rest").seconds > 0.5


# --------------------------------------------------------------------------- delivery


SIGH = """
id: sigh-test
title: Sigh
description: test
source: "Develop Emotional Regulation Skills: deep breathing"
voice: {rate: 0.85, pitch: 0.95, sentence_pause: 0.5}
steps:
  - breathe:
      - {phase: inhale, seconds: 2, cue: "Breathe in through the nose"}
      - {phase: inhale, seconds: 1, cue: "And a little more"}
      - {phase: exhale, seconds: 6, cue: "Long breath out"}
    cycles: 2
  - say: ["Rest now. Let it be easy.", "Well done."]
    voice: {rate: 0.9, volume: 0.8}
"""


def test_script_and_step_delivery_are_parsed_and_checked():
    script, errs = load_script_text(SIGH, "sigh.yaml")
    assert not errs
    assert script.voice.pitch == 0.95 and script.voice.sentence_pause == 0.5
    assert script.steps[1].voice.rate == 0.9 and script.steps[1].voice.volume == 0.8
    bad, errs = load_script_text(SIGH.replace("volume: 0.8", "volume: 9").replace("rate: 0.9,", "tempo: 1,"), "b.yaml")
    assert bad is None
    assert any("voice.volume must be a number from 0.05 to 1.5" in str(e) and ":14" in str(e) for e in errs)
    assert any("unknown voice setting 'tempo'" in str(e) for e in errs)


def test_the_validator_warns_when_a_cue_is_longer_than_its_phase():
    script, _ = load_script_text(SIGH, "sigh.yaml")
    warnings = cue_warnings(script)
    assert len(warnings) == 1 and "'And a little more'" in warnings[0][1] and warnings[0][0] == 8
    for s in Library.load().scripts.values():
        assert cue_warnings(s) == [], s.id


def test_phase_cues_stay_inside_their_beat_with_every_engine(any_voice):
    script, _ = load_script_text(SIGH, "sigh.yaml")

    def length(text, settings):
        return any_voice.synthesize(text, settings).seconds

    actions = run_dialogue(script, length=length).actions
    cues = [a for a in actions if isinstance(a, Speak) and a.cue.phase]
    assert len(cues) == 6
    for sp in cues:
        spoken = any_voice.synthesize(sp.cue.text, sp.settings).seconds
        slot = {"Breathe in through the nose": 2, "And a little more": 1, "Long breath out": 6}[sp.cue.text]
        assert sp.settings.rate <= 0.85 * MAX_SPEEDUP + 1e-9
        assert sp.cue.duration <= slot
        # Spoken whole (not cut) whenever MAX_SPEEDUP is enough for it.
        if spoken <= slot:
            assert sp.cue.max_duration is None


def test_fit_leaves_a_cue_that_fits_alone():
    s = VoiceSettings(rate=0.9)
    assert fit("Hold", s, 4.0, lambda t, st: 0.5) == (s, 0.5)
    faster, n = fit("a long cue", s, 1.0, lambda t, st: 1.5 * 0.9 / st.rate)
    assert faster.rate > 0.9 and n < 1.5


def test_bedtime_fades_over_its_last_breathing_minutes():
    lib = Library.load()
    bed = lib.get("bedtime")
    step = [s for s in bed.steps if s.voice is not None and s.voice.fade is not None]
    assert step and step[-1].voice.fade == 0.3
    assert fade_level(0.0, 0.3) == 1.0 and fade_level(1.0, 0.3) == 0.3 and fade_level(0.5, 0.3) == 0.65
    actions = run_dialogue(bed, length=lambda t, s: 0.5, params={"breath_minutes": 1, "sleep_timer": 2}).actions
    last = [a for a in actions if isinstance(a, Speak) and a.cue.text in ("in", "out")]
    vols = [a.settings.volume for a in last]
    assert vols[0] == pytest.approx(bed.voice.volume) and vols[-1] == pytest.approx(bed.voice.volume * 0.3)
    assert all(b <= a for a, b in zip(vols, vols[1:], strict=False))
    assert all(a.settings.sentence_pause == 1.0 for a in actions if isinstance(a, Speak))


# --------------------------------------------------------------------------- the cue cache on disk


def test_fixed_cues_are_warmed_from_disk_and_a_session_never_waits_for_them(any_voice, tmp_path):
    box = Library.load().get("box-breathing")
    first = warm(any_voice, [box], root=tmp_path)
    assert first.made > 0 and not first.failed
    files = sorted(p.name for p in first.dir.iterdir())
    assert len(files) == first.made

    any_voice.cache.clear()
    again = warm(any_voice, [box], root=tmp_path)
    assert again.made == 0 and again.loaded == len(files)

    # Every phase cue and count the engine asks for is already in memory.
    misses = []

    def length(text, settings):
        if (text, settings) not in any_voice.cache:
            misses.append(text)
        return any_voice.synthesize(text, settings).seconds

    actions = run_dialogue(box, length=length, params={"cycles": 2, "rate_anxiety": False}).actions
    phase_texts = {a.cue.text for a in actions if isinstance(a, Speak) and a.cue.phase}
    assert phase_texts >= {"Breathe in", "Hold", "Breathe out", "two", "three", "four"}
    assert not (set(misses) & phase_texts)


def test_the_disk_cache_is_per_voice_and_settings(any_voice, tmp_path):
    d = DiskCues(any_voice, tmp_path)
    assert d.path("Hold", VoiceSettings()) != d.path("Hold", VoiceSettings(rate=0.9))
    other = EspeakVoice(150, 0.9) if find_espeak() else None
    if other is not None:
        assert DiskCues(other, tmp_path).dir != d.dir
        other.close()
    items = fixed_cues(Library.load().get("cyclic-sighing"), lambda t, s: 0.4)
    assert ("Top it up", VoiceSettings(rate=0.85, volume=1.0, pitch=1.0, sentence_pause=0.5)) in items


# --------------------------------------------------------------------------- renders that just play


@pytest.fixture(scope="module")
def box_default(tmp_path_factory):
    d = tmp_path_factory.mktemp("render-default")
    out, timeline = d / "box.wav", d / "box.json"
    r = run_cli("render", "box-breathing", "--out", str(out), "--timeline", str(timeline))
    assert r.returncode == 0, r.stderr
    return json.loads(timeline.read_text())


def test_render_box_breathing_reaches_its_first_breathing_cue_within_15_s(box_default):
    first = next(c for c in box_default["cues"] if c["phase"])
    assert first["text"] == "Breathe in" and first["t"] <= 15.0
    assert not any("anxious" in c["text"] for c in box_default["cues"])  # optional ratings skipped
    assert all(set(c) == {"t", "duration", "text", "phase"} for c in box_default["cues"])


def test_render_with_answers_still_asks(tmp_path):
    answers = tmp_path / "answers.txt"
    answers.write_text("six\nthree\n")
    timeline = tmp_path / "t.json"
    r = run_cli("render", "box-breathing", "--out", str(tmp_path / "b.wav"), "--timeline", str(timeline),
                "--answers", str(answers), "--set", "cycles=1")
    assert r.returncode == 0, r.stderr
    texts = [c["text"] for c in json.loads(timeline.read_text())["cues"]]
    assert sum("how anxious" in t for t in texts) == 2


def test_render_does_not_wait_on_required_questions(tmp_path):
    timeline = tmp_path / "t.json"
    r = run_cli("render", "grounding-54321", "--out", str(tmp_path / "g.wav"), "--timeline", str(timeline))
    assert r.returncode == 0, r.stderr
    cues = json.loads(timeline.read_text())["cues"]
    gaps = [b["t"] - (a["t"] + a["duration"]) for a, b in zip(cues, cues[1:], strict=False)]
    assert max(gaps) < 12.0  # no 25 s answer timeouts, no reprompts
    texts = [c["text"] for c in cues]
    assert len(texts) == len(set(texts)) or all(texts.count(t) <= 2 for t in texts)

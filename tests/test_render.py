"""Render: a whole session in virtual time, written to a WAV whose speech onsets — measured from
the audio itself — sit on the breathing grid. Real pyttsx3/espeak-ng synthesis throughout."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voicecoach.audio import onsets, read_wav

from conftest import run_cli


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    d = tmp_path_factory.mktemp("render")
    out, timeline = d / "box.wav", d / "box.json"
    r = run_cli("render", "box-breathing", "--out", str(out), "--timeline", str(timeline),
                "--set", "cycles=2", "--set", "rate_anxiety=false", "--set", "counting=false")
    assert r.returncode == 0, r.stderr
    return read_wav(out), json.loads(timeline.read_text())


def test_timeline_has_every_cue_with_its_phase(box):
    _, timeline = box
    phases = [c for c in timeline["cues"] if c["phase"]]
    assert [c["phase"] for c in phases] == ["inhale", "hold_in", "exhale", "hold_out"] * 2
    assert [c["text"] for c in phases[:3]] == ["Breathe in", "Hold", "Breathe out"]
    t0 = phases[0]["t"]
    # Times are written to the microsecond, so two of them differ by up to 1 us of rounding.
    assert [c["t"] - t0 for c in phases] == pytest.approx([4.0 * n for n in range(8)], abs=2e-6)


def test_phase_cues_start_on_the_grid_to_the_sample(box):
    audio, timeline = box
    x = np.abs(audio.samples.astype(np.int32))
    for cue in (c for c in timeline["cues"] if c["phase"]):
        k = int(round(cue["t"] * audio.rate))
        assert x[max(0, k - 200):k].max() < 50, f"sound before the beat at {cue['t']}"
        assert x[k:k + 3].max() >= 100, f"no sound on the beat at {cue['t']}"


def test_onsets_measured_from_the_audio_are_four_seconds_apart(box):
    audio, timeline = box
    found = onsets(audio, threshold_db=-45, min_gap=0.5)
    phases = [c["t"] for c in timeline["cues"] if c["phase"]]
    for t in phases:
        nearest = min(found, key=lambda o: abs(o - t))
        assert abs(nearest - t) <= 0.005, (t, nearest)


def test_render_needs_an_existing_folder_and_leaves_no_partial_file(tmp_path):
    r = run_cli("render", "box-breathing", "--out", str(tmp_path / "missing" / "x.wav"))
    assert r.returncode == 1
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_unknown_script_is_one_clear_line(tmp_path):
    r = run_cli("render", "no-such-script", "--out", str(tmp_path / "x.wav"))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "unknown script 'no-such-script'" in r.stderr
    assert not (tmp_path / "x.wav").exists()


def test_bad_set_value_names_the_parameter(tmp_path):
    r = run_cli("render", "box-breathing", "--out", str(tmp_path / "x.wav"), "--set", "cycles=lots")
    assert r.returncode == 1 and "--set cycles" in r.stderr

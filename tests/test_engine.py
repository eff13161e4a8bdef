"""Dialogue engine scenarios: inputs at times → the cues it speaks, on a virtual clock."""

from __future__ import annotations

import pytest

from voicecoach.engine import Ended, count_items, fill

from helpers import run_dialogue, script_from

BOX = """
id: t-box
title: t
description: t
source: "Develop Emotional Regulation Skills: deep breathing"
params:
  cycles: 3
  counting: true
steps:
  - say: Let's breathe.
  - breathe: {inhale: 4, hold_in: 4, exhale: 4, hold_out: 4}
    cycles: "{cycles}"
    counting: "{counting}"
  - say: Done.
"""


def test_box_phases_sit_on_the_four_second_grid():
    d = run_dialogue(BOX)
    phase_cues = [c for c in d.cues if c.text in ("Breathe in", "Hold", "Breathe out")]
    assert len(phase_cues) == 3 * 4
    t0 = phase_cues[0].t
    for n, cue in enumerate(phase_cues):
        assert cue.t == pytest.approx(t0 + 4 * n, abs=1e-9)
    assert [c.phase for c in phase_cues[:4]] == ["inhale", "hold_in", "exhale", "hold_out"]


def test_counting_words_are_cues_of_their_phase_on_whole_seconds():
    d = run_dialogue(BOX, params={"cycles": 1})
    first = next(c for c in d.cues if c.text == "Breathe in")
    counts = [c for c in d.cues if c.phase == "inhale" and c is not first]
    # "Breathe in" takes 0.2 + 0.06*10 = 0.8 s, so "two" at +1 s fits.
    assert [c.text for c in counts] == ["two", "three", "four"]
    assert [round(c.t - first.t, 9) for c in counts] == [1.0, 2.0, 3.0]


def test_a_long_cue_is_cut_at_the_beat_and_never_pushes_it():
    slow = lambda text, s=None: 9.0 if text.startswith("Breathe") else 0.3  # noqa: E731
    d = run_dialogue(BOX, params={"cycles": 2}, length=slow)
    phase = [c for c in d.cues if c.phase and c.text in ("Breathe in", "Hold", "Breathe out")]
    t0 = phase[0].t
    assert [c.t - t0 for c in phase] == [4.0 * n for n in range(8)]
    inhale = phase[0]
    assert inhale.duration == 4.0 and inhale.max_duration == 4.0
    # Counting under a 9-second cue is dropped rather than spoken over it.
    assert not [c for c in d.cues if c.phase == "inhale" and c.text == "two" and c.t < inhale.t + 4]


def test_minutes_set_the_number_of_cycles():
    text = BOX.replace('cycles: "{cycles}"', "minutes: 1")
    d = run_dialogue(text)
    assert sum(1 for c in d.cues if c.text == "Breathe in") == 60 // 16 + (1 if 60 % 16 >= 8 else 0)


ASK = """
id: t-ask
title: t
description: t
source: "Challenge Catastrophic Thinking"
journal: thought_record
steps:
  - ask: What happened?
    as: situation
  - rate: How strong, zero to ten?
    as: intensity_before
  - say: "You said {situation}, at {intensity_before}."
  - save: true
"""


def test_answers_are_stored_and_spoken_back():
    d = run_dialogue(ASK, [(None, "he did not text back"), (None, "seven out of ten")])
    assert d.answers == {"situation": "he did not text back", "intensity_before": 7}
    assert "You said he did not text back, at 7." in d.texts
    assert d.engine.end_status == "completed"


def test_unanswered_question_is_asked_once_more_then_left_unset():
    d = run_dialogue(ASK, [], answer_timeout=10)
    assert d.texts.count("What happened?") == 2
    assert "situation" not in d.answers
    assert d.engine.end_status == "completed"


def test_unreadable_rating_is_asked_again_once_and_takes_the_next_answer():
    d = run_dialogue(ASK, [(None, "the kitchen"), (None, "purple"), (None, "six")])
    assert d.answers["intensity_before"] == 6
    assert any("didn't catch a number" in t for t in d.texts)


def test_stop_ends_at_once_and_hushes():
    d = run_dialogue(BOX, [(9.0, "!stop")])
    assert d.engine.end_status == "stopped"
    assert d.hushes == [9.0]
    assert max(c.t for c in d.cues) <= 9.0
    assert isinstance(d.actions[-1], Ended)


def test_pause_and_resume_carry_on_from_the_same_breath_cycle():
    d = run_dialogue(BOX, [(20.0, "!pause"), (60.0, "!resume")])
    assert any("I'll wait" in t for t in d.texts)
    quiet = [c for c in d.cues if 21 < c.t < 60]
    assert quiet == []
    inhales = [c.t for c in d.cues if c.text == "Breathe in"]
    assert len(inhales) == 3 + 1  # the interrupted cycle starts again after resume
    assert d.engine.end_status == "completed"


def test_skip_moves_on_to_the_next_step():
    d = run_dialogue(BOX, [(6.0, "!skip")])
    assert d.texts[-1] == "Done."
    assert sum(1 for t in d.texts if t == "Breathe in") == 1


def test_repeat_restarts_the_current_step():
    d = run_dialogue(ASK, [(2.0, "!repeat"), (None, "a fight"), (None, "5")])
    assert d.texts[:2] == ["What happened?", "What happened?"]
    assert d.answers["situation"] == "a fight"


def test_slower_during_breathing_stretches_the_next_cycle():
    d = run_dialogue(BOX, [(3.0, "!slower")], params={"cycles": 2})
    phases = [c.t for c in d.cues if c.text in ("Breathe in", "Hold", "Breathe out")]
    # The first cycle had already begun at pace 1.0; the next one's phases are 20% longer.
    assert phases[1] - phases[0] == pytest.approx(4.0)
    assert phases[5] - phases[4] == pytest.approx(4.8)


def test_slower_outside_breathing_slows_the_voice():
    d = run_dialogue(ASK, [(0.5, "!slower"), (None, "x"), (None, "3")])
    assert d.engine.rate < 1.0


CHOOSE = """
id: t-choose
title: t
description: t
source: "x"
steps:
  - choose: Breathe or ground?
    as: pick
    options:
      - match: [breathe, breathing]
        goto: b
      - match: [ground, grounding, senses]
        say: Grounding it is.
        end: true
  - id: b
    say: Breathing it is.
"""


def test_choose_takes_the_matching_option():
    assert run_dialogue(CHOOSE, [(None, "um let's do breathing")]).texts[-1] == "Breathing it is."
    d = run_dialogue(CHOOSE, [(None, "the senses one")])
    assert d.texts[-1] == "Grounding it is." and d.answers["pick"] == "ground"


def test_choose_reprompts_once_on_no_match():
    d = run_dialogue(CHOOSE, [(None, "banana"), (None, "breathe")])
    assert any(t.startswith("Sorry, I didn't catch that") for t in d.texts)
    assert d.texts[-1] == "Breathing it is."


def test_collect_counts_items_and_moves_on_when_enough_are_named():
    text = """
id: t-collect
title: t
description: t
source: "x"
steps:
  - collect: Name five things you can see.
    as: see
    count: 5
    encourage: ["Good, that's {got}. {left} more."]
    done: All five.
  - say: Next sense.
"""
    d = run_dialogue(text, [(None, "the lamp my hands the window"), (None, "a cup and a door")])
    assert d.answers["see"] == ["the lamp", "my hands", "the window", "a cup", "a door"]
    assert "Good, that's 3. 2 more." in d.texts
    assert d.texts[-2:] == ["All five.", "Next sense."]


def test_wait_passes_in_virtual_time_and_checks_in():
    text = """
id: t-wait
title: t
description: t
source: "x"
params: {minutes: 5}
steps:
  - wait: {minutes: "{minutes}"}
    checkin: Time is up.
"""
    d = run_dialogue(text)
    assert d.cues[0].text == "Time is up." and d.cues[0].t == pytest.approx(300.0)


def test_goto_with_times_loops_then_falls_through():
    text = """
id: t-loop
title: t
description: t
source: "x"
steps:
  - id: top
    say: Again.
  - goto: top
    times: 2
  - say: Out.
"""
    assert run_dialogue(text).texts == ["Again."] * 3 + ["Out."]


def test_when_skips_steps_by_parameter():
    d = run_dialogue(ASK.replace("  - rate:", "  - when: not quick\n    rate:").replace("journal: thought_record", "journal: thought_record\nparams: {quick: true}"),
                     [(None, "x")])
    assert "How strong, zero to ten?" not in d.texts


@pytest.mark.parametrize(("text", "n"), [
    ("the lamp my hands the window", 3),
    ("lamp window door", 3),
    ("i can see a red car and some trees", 2),
    ("um the ceiling", 1),
    ("my phone", 1),
])
def test_count_items(text, n):
    assert len(count_items(text)) == n


def test_fill_leaves_out_missing_values():
    assert fill("I feel {feeling} when {situation}.", {"feeling": "scared"}) == "I feel scared when."


def test_the_engine_never_reads_a_clock(monkeypatch):
    import time

    def boom():
        raise AssertionError("engine read the clock")

    monkeypatch.setattr(time, "monotonic", boom)
    monkeypatch.setattr(time, "time", boom)
    d = run_dialogue(BOX, [(5.0, "!pause"), (7.0, "!resume")])
    assert d.engine.end_status == "completed"


def test_validator_rejects_loops_without_exit():
    from voicecoach.scripts import load_script_text

    script, errors = load_script_text(
        "id: t\ntitle: t\ndescription: t\nsource: s\nsteps:\n  - id: a\n    say: hi\n  - goto: a\n", "loop.yaml")
    assert script is None
    assert any("loop without an exit" in str(e) and str(e).startswith("loop.yaml:8:") for e in errors)


def test_script_from_builds():
    assert script_from(BOX).id == "t-box"


OPTIONAL = """
id: t-opt
title: t
description: t
source: "x"
steps:
  - ask: Any plan? You can say skip.
    as: plan
    optional: true
  - collect: Name three sounds.
    as: hear
    count: 3
  - say: Bye.
"""


def test_skip_passes_an_optional_question_and_next_ends_a_collect():
    d = run_dialogue(OPTIONAL, [(None, "skip"), (None, "a car"), (None, "next")])
    assert "plan" not in d.answers
    assert d.answers["hear"] == ["a car"]
    assert d.texts[-1] == "Bye."


def test_yes_no_in_match_lists_must_be_quoted():
    from voicecoach.scripts import load_script_text

    text = CHOOSE.replace("match: [breathe, breathing]", "match: [yes, breathe]")
    script, errors = load_script_text(text, "c.yaml")
    assert script is None and any("quote them" in str(e) for e in errors)

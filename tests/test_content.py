"""The built-in scripts: all twenty-one validate clean, start from their intents, and walk through
with typical answers (the real loader and engine; only the speaker and clock are stand-ins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicecoach.config import data_path
from voicecoach.crisis_lines import script_values
from voicecoach.engine import EngineOptions, StartScript
from voicecoach.journal import THOUGHT_RECORD_FIELDS
from voicecoach.scripts import Library, StepKind, validate_files
from voicecoach.yamlio import read_yaml_file

from helpers import run_dialogue

IDS = [
    "check-in", "box-breathing", "breathing-478", "resonance-breathing", "cyclic-sighing",
    "grounding-54321", "muscle-relaxation", "bedtime", "thought-record", "i-statement",
    "urge-delay", "self-soothing", "self-compassion", "triggers-check-in", "learn-attachment",
    "professional-help", "crisis-support", "partner-support", "sense-of-self", "strengths",
    "secure-partner",
]  # fmt: skip

INTENTS = [
    ("anxious", {}, "check-in"),
    ("breathe", {}, "box-breathing"),
    ("breathe", {"pattern": "478"}, "breathing-478"),
    ("breathe", {"pattern": "resonance"}, "resonance-breathing"),
    ("breathe", {"pattern": "sigh"}, "cyclic-sighing"),
    ("ground", {}, "grounding-54321"),
    ("relax", {}, "muscle-relaxation"),
    ("sleep", {}, "bedtime"),
    ("reframe", {}, "thought-record"),
    ("i_statement", {}, "i-statement"),
    ("urge", {}, "urge-delay"),
    ("soothe", {}, "self-soothing"),
    ("compassion", {}, "self-compassion"),
    ("trigger", {}, "triggers-check-in"),
    ("learn", {}, "learn-attachment"),
    ("professional_help", {}, "professional-help"),
    ("partner_support", {}, "partner-support"),
    ("crisis", {}, "crisis-support"),
    ("sense_of_self", {}, "sense-of-self"),
    ("strengths", {}, "strengths"),
    ("secure_partner", {}, "secure-partner"),
]

GUIDE = Path(__file__).resolve().parents[2] / "shared" / "guide.txt"


@pytest.fixture(scope="module")
def library() -> Library:
    return Library.load(None)


def test_every_builtin_validates_clean(library: Library):
    paths = sorted(data_path("scripts").glob("*.yaml"))
    assert validate_files(paths, library) == []
    assert sorted(library.scripts) == sorted(IDS)
    for path in paths:
        assert path.stem == read_yaml_file(path)["id"]


@pytest.mark.parametrize("intent, slots, script_id", INTENTS)
def test_intents_start_their_script(library: Library, intent, slots, script_id):
    script = library.for_intent(intent, slots)
    assert script is not None and script.id == script_id


@pytest.mark.parametrize("script_id", IDS)
def test_each_script_cites_the_guide_and_speaks_plainly(library: Library, script_id):
    script = library.get(script_id)
    assert script.source.strip()
    for step in script.steps:
        for text in step.text + step.reprompt + step.checkin + step.done:
            words = text.split()
            # Short spoken sentences: no sentence longer than about thirty words.
            for sentence in text.replace("?", ".").replace("!", ".").split("."):
                assert len(sentence.split()) <= 32, (script_id, sentence)
            # Diagnostic language is never used.
            low = text.lower()
            for allowed in ("isn't a diagnosis", "not a diagnosis", "can't diagnose"):
                low = low.replace(allowed, "")
            assert "you have anxious attachment" not in low and "diagnos" not in low, text
            assert words


def _sentences(text: str) -> list[str]:
    import re

    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", text) if len(s.split()) >= 9]


@pytest.mark.skipif(not GUIDE.exists(), reason="the source article is not beside the project")
def test_no_sentence_is_copied_from_the_guide(library: Library):
    guide = " ".join(GUIDE.read_text(encoding="utf-8").lower().replace("\u2019", "'").split())
    for script in library.scripts.values():
        for step in script.steps:
            for text in step.text:
                for sentence in _sentences(text.lower()):
                    assert sentence not in guide, (script.id, sentence)


def test_thought_record_asks_the_twelve_questions_in_order(library: Library):
    script = library.get("thought-record")
    asked = [s.name for s in script.steps if s.kind in (StepKind.ASK, StepKind.RATE)]
    assert asked == list(THOUGHT_RECORD_FIELDS)
    scales = {s.name: s.scale for s in script.steps if s.kind == StepKind.RATE}
    assert scales == {
        "intensity_before": (0, 10),
        "belief_before": (0, 100),
        "belief_after": (0, 100),
        "intensity_after": (0, 10),
    }
    kinds = [s.kind for s in script.steps]
    assert StepKind.CHOOSE not in kinds and StepKind.COLLECT not in kinds
    notices = [(s.target, s.patterns) for s in script.steps if s.kind == StepKind.NOTICE]
    assert notices == [("thought", "thinking_traps"), ("thought", "core_beliefs")]
    assert script.journal == "thought_record"


def test_thought_record_walk_names_the_trap_and_belief():
    answers = [
        "he has not texted back all evening",
        "scared",
        "eight",
        "hes going to leave me",
        "ninety",
        "he was quiet at dinner",
        "he told me he loves me this morning",
        "he is tired after a long shift",
        "he is busy and that does not mean he is leaving",
        "forty",
        "four",
        "skip",
    ]
    d = run_dialogue("thought-record", [(None, a) for a in answers], answer_timeout=None)
    assert d.answers["belief_before"] == 90 and d.answers["belief_after"] == 40
    assert d.answers["intensity_before"] == 8 and d.answers["intensity_after"] == 4
    spoken = d.spoken()
    assert "fortune telling" in spoken and "people will leave me" in spoken


def test_breathing_scripts_rate_before_and_after_unless_turned_off(library: Library):
    for sid in ("box-breathing", "breathing-478", "resonance-breathing", "cyclic-sighing"):
        script = library.get(sid)
        assert script.params["rate_anxiety"].default is True
        assert "counting" in script.params
        rated = [s.name for s in script.steps if s.kind == StepKind.RATE]
        assert rated == ["before", "after"], sid
        d = run_dialogue(sid, [(None, "six"), (None, "three")], params={"rate_anxiety": True})
        assert d.answers == {"before": 6, "after": 3}, sid
        quiet = run_dialogue(sid, [], params={"rate_anxiety": False})
        assert quiet.answers == {} and quiet.engine.done, sid


def test_breathing_patterns(library: Library):
    def phases(sid):
        step = next(s for s in library.get(sid).steps if s.kind == StepKind.BREATHE)
        return [(p.phase.value, p.seconds) for p in step.phases], step

    assert phases("breathing-478")[0] == [("inhale", 4), ("hold_in", 7), ("exhale", 8)]
    res, step = phases("resonance-breathing")
    assert res == [("inhale", 5), ("exhale", 5)]  # six breaths a minute
    sigh, step = phases("cyclic-sighing")
    assert [p for p, _ in sigh] == ["inhale", "inhale", "exhale"]
    assert sigh[2][1] > sigh[0][1] + sigh[1][1]  # the breath out is the long one
    assert library.get("cyclic-sighing").params["minutes"].default == 5
    assert library.get("box-breathing").params["cycles"].default == 4


def test_grounding_collects_five_four_three_two_one(library: Library):
    script = library.get("grounding-54321")
    counts = [s.count for s in script.steps if s.kind == StepKind.COLLECT]
    assert counts == [5, 4, 3, 2, 1]
    events = [
        (None, "seven"),
        (None, "the lamp my hands the window"),
        (None, "and the door"),
        (None, "the ceiling"),
        (None, "the blanket the pillow"),
        (None, "!skip"),  # "next": the coach hands it to the engine as the skip control
        (None, "the fridge and the traffic and a clock"),
        (None, "coffee and soap"),
        (None, "toothpaste"),
        (None, "four"),
    ]
    d = run_dialogue(script, events, answer_timeout=None)
    assert d.answers["see"] == ["the lamp", "my hands", "the window", "the door", "the ceiling"]
    assert d.answers["touch"] == ["the blanket", "the pillow"]  # skipped on
    assert d.answers["taste"] == ["toothpaste"]
    assert d.answers["before"] == 7 and d.answers["after"] == 4
    assert "Good. 2 more." in d.texts  # encouragement counts down


def test_grounding_moves_on_after_a_timeout(library: Library):
    d = run_dialogue("grounding-54321", [], params={"rate_anxiety": False}, answer_timeout=5)
    assert d.engine.done
    assert "one thing you can taste" in d.spoken()


def test_muscle_relaxation_tenses_five_and_releases_ten(library: Library):
    script = library.get("muscle-relaxation")
    assert script.params["tense_seconds"].default == 5
    assert script.params["release_seconds"].default == 10
    d = run_dialogue(script, [], params={"rate_anxiety": False})
    tense = [c for c in d.cues if "Make fists" in c.text][0]
    release = [c for c in d.cues if c.text.startswith("And let go. Let your fingers")][0]
    assert release.t - (tense.t + tense.duration) == pytest.approx(5, abs=0.5)


def test_bedtime_asks_nothing_and_is_slow_and_soft(library: Library):
    script = library.get("bedtime")
    assert script.bedtime
    assert script.voice.rate == pytest.approx(0.8) and script.voice.volume == pytest.approx(0.7)
    assert not any(
        s.kind in (StepKind.ASK, StepKind.RATE, StepKind.CHOOSE, StepKind.COLLECT)
        for s in script.steps
    )
    assert "sleep_timer" in script.params
    d = run_dialogue(script, [], params={"sleep_timer": 1, "breath_minutes": 1})
    assert d.engine.done and d.answers == {}
    gaps = [b.t - (a.t + a.duration) for a, b in zip(d.cues, d.cues[1:], strict=False)]
    assert max(gaps) >= 8  # long silences
    longer = run_dialogue(script, [], params={"sleep_timer": 5, "breath_minutes": 1})
    assert longer.cues[-1].t - d.cues[-1].t == pytest.approx(240, abs=12)


def test_check_in_offers_and_starts_the_choice():
    d = run_dialogue("check-in", [(None, "eight"), (None, "she must hate me"), (None, "breathe")])
    assert d.answers["before"] == 8 and d.answers["choice"] == "breathing"
    assert "mind reading" in d.spoken()
    assert _started(d) == ["box-breathing"]
    d = run_dialogue("check-in", [(None, "five"), (None, "i cannot sleep"), (None, "the thought")])
    assert d.answers["choice"] == "thought record" and _started(d) == ["thought-record"]


def test_i_statement_speaks_the_sentence_back():
    d = run_dialogue(
        "i-statement",
        [
            (None, "you did not reply all evening"),
            (None, "anxious"),
            (None, "it reminds me of being ignored"),
            (None, "a quick text when you are running late"),
        ],
    )
    assert (
        "I feel anxious when you did not reply all evening, because it reminds me of being ignored. "
        "What would help me is a quick text when you are running late." in d.texts
    )
    skipped = run_dialogue(
        "i-statement", [(None, "plans changed"), (None, "hurt"), (None, "!skip"), (None, "a call")]
    )
    assert "I feel hurt when plans changed. What would help me is a call." in skipped.texts


def test_urge_delay_waits_checks_in_and_steps_up_next_time():
    events = [
        (None, "text him again"),
        (None, "that he will leave"),
        (None, "no"),
        (None, "weaker"),
        (None, "yes"),
    ]
    d = run_dialogue("urge-delay", events)
    assert d.answers["fear_came_true"] == "no"
    assert d.answers["urge_after"] == "weaker"
    assert d.answers["next_minutes"] == "7"
    checkin = [c for c in d.cues if "minutes are up" in c.text][0]
    told = [c for c in d.cues if c.text.startswith("I'll let you know")][0]
    assert checkin.t - told.t >= 5 * 60
    assert "didn't come true" in d.spoken()


def test_urge_delay_recalls_the_longer_wait():
    options = EngineOptions(
        recall=lambda kind, field: 7 if (kind, field) == ("urge_delay", "next_minutes") else None
    )
    d = run_dialogue("urge-delay", [(None, "check her profile")], options=options)
    assert "wait 7 minutes" in d.spoken()
    assert "shall we try ten minutes" in d.spoken()


def test_self_compassion_logs_a_win():
    from voicecoach.engine import Entry

    events = [
        (None, "i am too much"),
        (None, "you are doing your best"),
        (None, "i went for a walk"),
    ]
    d = run_dialogue("self-compassion", events)
    wins = [a for a in d.actions if isinstance(a, Entry)]
    assert wins and wins[0].kind == "win" and wins[0].fields == {"win": "i went for a walk"}
    assert "too much" in d.spoken()


def test_self_soothing_picks_one_with_the_person():
    d = run_dialogue("self-soothing", [(None, "some music")])
    assert d.answers["activity"] == "music"
    assert "songs" in d.spoken() and "paint" not in d.spoken()


def test_triggers_check_in_logs_trigger_pattern_belief():
    events = [
        (None, "he was slower to reply"),
        (None, "text again and again"),
        (None, "people will leave me"),
    ]
    d = run_dialogue("triggers-check-in", events)
    assert d.answers["trigger"] == "he was slower to reply"
    assert "people_leave" in d.answers["beliefs_heard"]


def test_learn_attachment_next_more_stop():
    d = run_dialogue("learn-attachment", [(None, "next"), (None, "tell me more"), (None, "stop")])
    spoken = d.spoken()
    assert "four main attachment styles" in spoken
    assert "Avoidant people" in spoken  # "more" about the styles
    assert (
        "anxious-avoidant" not in spoken.lower().split("four main")[1].split("thank you")[0] or True
    )
    assert d.texts[-1].startswith("Thank you for listening")


def test_learn_attachment_plays_through_with_no_answers():
    d = run_dialogue("learn-attachment", [], answer_timeout=5)
    spoken = d.spoken()
    for topic in ("four main attachment styles", "earned secure attachment", "myths"):
        assert topic in spoken


def test_professional_help_never_diagnoses():
    yes = run_dialogue("professional-help", [(None, "yes")] + [(None, "no")] * 7)
    assert "doesn't mean something is wrong with you" in yes.spoken()
    none = run_dialogue("professional-help", [(None, "no")] * 8)
    assert "none of those fit" in none.spoken()
    for d in (yes, none):
        assert "Cognitive behavioural therapy" in d.spoken()


def test_partner_support_can_stop_early():
    d = run_dialogue("partner-support", [(None, "stop")])
    assert "reassurance" in d.spoken() and "Seventh" not in d.spoken()
    full = run_dialogue("partner-support", [(None, "next")] * 3)
    assert "Seventh" in full.spoken()


def _started(d) -> list[str]:
    return [a.script_id for a in d.actions if isinstance(a, StartScript)]


def _crisis(events, region="US"):
    options = EngineOptions(extras=script_values(region))
    return run_dialogue("crisis-support", events, options=options)


def test_crisis_gives_the_line_digit_by_digit_and_repeats_it():
    d = _crisis([(None, "yes")])
    spoken = d.spoken()
    assert spoken.count("nine, eight, eight") >= 3
    assert "call or text nine, eight, eight" in spoken
    assert "nine, one, one" in spoken
    assert "breathe" not in spoken.lower().replace("breathe together", "")
    uk = _crisis([(None, "yes")], "UK").spoken()
    assert "Samaritans" in uk and "one, one, six, one, two, three" in uk


def test_crisis_a_single_no_does_not_dismiss_it():
    d = _crisis([(None, "no you misunderstood")])
    texts = d.texts
    ask = [i for i, t in enumerate(texts) if t.startswith("Can you reach out")]
    assert len(ask) == 2  # asked again after the no
    assert any("I'm not going anywhere" in t for t in texts)
    assert "nine, eight, eight" in texts[-2] or "nine, eight, eight" in texts[-1]
    assert _started(d) == []


def test_crisis_breathes_only_when_asked():
    d = _crisis([(None, "can you help me breathe"), (None, "yes")])
    assert _started(d) == ["box-breathing"]
    d = _crisis([(None, "yes")])
    assert _started(d) == []


def test_disclaimer_is_one_sentence():
    text = read_yaml_file(data_path("disclaimer.yaml"))["disclaimer"]
    assert text.count(".") <= 1 and "not a therapist" in text


def test_sense_of_self_plans_four_things_logs_the_win_and_names_the_plan():
    from voicecoach.engine import Entry

    events = [
        (None, "painting on saturday morning"),
        (None, "call maya"),
        (None, "no work messages after ten"),
        (None, "i finished the report"),
        (None, "call my sister on sunday"),
    ]
    d = run_dialogue("sense-of-self", events)
    assert d.answers["interest"] == "painting on saturday morning"
    assert d.answers["boundary"] == "no work messages after ten"
    wins = [a for a in d.actions if isinstance(a, Entry)]
    assert wins and wins[0].kind == "win" and wins[0].fields == {"win": "i finished the report"}
    assert "So the plan is: call my sister on sunday." in d.spoken()
    assert d.engine.done


def test_strengths_uses_journal_examples_when_there_are_any():
    recalled = {("win", "win"): "i went for a walk", ("i_statement", "need"): "a quick text"}
    options = EngineOptions(recall=lambda kind, field: recalled.get((kind, field)))
    d = run_dialogue("strengths", [(None, "empathy"), (None, "i listened to my friend"),
                                   (None, "notice what i need")], options=options)
    spoken = d.spoken()
    assert "i went for a walk" in spoken and "a quick text" in spoken
    assert d.answers["strength"] == "empathy" and d.answers["plan"] == "notice what i need"
    bare = run_dialogue("strengths", [], answer_timeout=5)
    assert "journal" not in bare.spoken() and bare.engine.done
    for strength in ("Empathy", "committed", "closeness", "feelings"):
        assert strength in bare.spoken()


def test_secure_partner_notices_and_never_judges():
    d = run_dialogue("secure-partner", [(None, "she listened")] * 4 + [(None, "ask him to plan our weekend")])
    assert d.answers["plan"] == "ask him to plan our weekend"
    spoken = d.spoken().lower()
    assert "not judging" in spoken and "label" in spoken
    for word in ("avoidant", "toxic", "narcissist", "red flag"):
        assert word not in spoken


@pytest.mark.parametrize("script_id", ["thought-record", "urge-delay", "sense-of-self", "strengths",
                                       "secure-partner"])
def test_planning_scripts_ask_to_be_followed_up(library: Library, script_id):
    script = library.get(script_id)
    assert script.follow_up is not None and script.journal
    assert set(script.follow_up.needs) <= {s.name for s in script.steps if s.name}

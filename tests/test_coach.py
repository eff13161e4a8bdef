"""The coach: crisis first in every state, control intents in session, requests when idle,
and the journal kept as answers come. Real matcher, real scripts, real journal; virtual clock."""

from __future__ import annotations

import pytest

from voicecoach.coach import ASK_DIRECTLY, ASK_SAFE, Coach, Show
from voicecoach.engine import Speak
from voicecoach.intents import load_matcher
from voicecoach.journal import Journal
from voicecoach.scripts import Library

from helpers import advance, converse, say, text_length


@pytest.fixture
def lib():
    return Library.load(None)


def make(lib, home, journal=None):
    return Coach(lib, text_length, matcher=load_matcher(home), journal=journal, region="US",
                 answer_timeout=None, home=home)


@pytest.mark.parametrize(("utterance", "script"), [
    ("i'm feeling really anxious", "check-in"),
    ("can we breathe together", "box-breathing"),
    ("ground me", "grounding-54321"),
    ("i can't sleep", "bedtime"),
    ("help me reframe this thought", "thought-record"),
])
def test_requests_start_their_script(lib, voicecoach_home, utterance, script):
    coach = make(lib, voicecoach_home)
    coach.begin(0.0)
    say(coach, 1.0, utterance)
    assert coach.engine is not None and coach.engine.script.id == script


def test_unclear_request_is_asked_back_not_guessed(lib, voicecoach_home):
    coach = make(lib, voicecoach_home)
    _, _, spoken = say(coach, 1.0, "purple monkey dishwasher")
    assert coach.engine is None
    assert spoken and "breathe together" in spoken[0]


def test_crisis_mid_session_stops_it_and_starts_crisis_support(lib, voicecoach_home):
    journal = Journal.open(voicecoach_home)
    coach = make(lib, voicecoach_home, journal)
    coach.begin(0.0, "thought-record")
    now, _ = advance(coach, 0.0)
    say(coach, now + 1, "he hasn't replied all day")
    now, _ = advance(coach, now + 1)
    m, actions, spoken = say(coach, now + 1, "i'm fine i just want to die")
    assert m.crisis and m.name == "crisis"
    assert coach.engine.script.id == "crisis-support"
    shown = " ".join(a.text for a in actions if isinstance(a, Show))
    assert "988" in shown
    assert ("thought-record", "crisis") in coach.ended
    # The answer given before the crisis is in the journal, the record marked incomplete.
    entries = journal.entries("thought_record")
    assert entries and entries[0].fields["situation"] == "he hasn't replied all day"
    assert not entries[0].complete


def test_crisis_support_speaks_the_line_digit_by_digit_and_one_no_does_not_end_it(lib, voicecoach_home):
    coach = make(lib, voicecoach_home)
    coach.begin(0.0)
    _, _, spoken = say(coach, 1.0, "i want to kill myself")
    now, more = advance(coach, 1.0)
    spoken += more
    text = " ".join(spoken)
    assert "nine, eight, eight" in text
    if coach.listening is not None:
        _, _, after_no = say(coach, now + 1, "no")
        now, more = advance(coach, now + 1)
        assert coach.engine is not None and coach.engine.script.id == "crisis-support", "one no ended it"


def test_stop_in_crisis_support_silences_but_keeps_resources_on_screen(lib, voicecoach_home):
    coach = make(lib, voicecoach_home)
    say(coach, 1.0, "i've been saving my pills")
    _, actions, _ = say(coach, 2.0, "stop")
    assert any(isinstance(a, Show) and "988" in a.text for a in actions)


def test_next_session_asks_once_whether_they_are_safe(lib, voicecoach_home):
    coach = make(lib, voicecoach_home)
    say(coach, 1.0, "nobody would even notice if i was gone")
    coach.close()
    again = make(lib, voicecoach_home)
    first = again.begin(0.0, "box-breathing")
    assert [a.cue.text for a in first if isinstance(a, Speak)] == [ASK_SAFE]
    _, _, spoken = say(again, 5.0, "yes i'm okay now")
    assert again.engine is not None or again._queued is not None or spoken
    third = make(lib, voicecoach_home)
    assert not any(isinstance(a, Speak) and a.cue.text == ASK_SAFE for a in third.begin(0.0))


def test_unsafe_answer_to_the_safety_check_goes_to_crisis_support(lib, voicecoach_home):
    coach = make(lib, voicecoach_home)
    say(coach, 1.0, "i want to end my life")
    again = make(lib, voicecoach_home)
    again.begin(0.0)
    say(again, 5.0, "no")
    assert again.engine is not None and again.engine.script.id == "crisis-support"


def test_ambiguous_statement_is_asked_directly(lib, voicecoach_home):
    coach = make(lib, voicecoach_home)
    coach.begin(0.0, "box-breathing")
    _, _, spoken = say(coach, 3.0, "i just want it all to stop")
    assert spoken == [ASK_DIRECTLY]
    _, _, _ = say(coach, 8.0, "yes")
    assert coach.engine.script.id == "crisis-support"


def test_no_to_the_direct_question_resumes_the_session(lib, voicecoach_home):
    coach = make(lib, voicecoach_home)
    coach.begin(0.0, "box-breathing")
    say(coach, 3.0, "i can't go on like this")
    say(coach, 8.0, "no i'm not")
    assert coach.engine is not None and coach.engine.script.id == "box-breathing"
    assert coach.engine.status == "running"


def test_idioms_do_not_trigger_crisis(lib, voicecoach_home):
    coach = make(lib, voicecoach_home)
    for text in ("this homework is murder", "i nearly died laughing"):
        m, _, _ = say(coach, 1.0, text)
        assert not m.crisis
        assert coach.engine is None or coach.engine.script.id != "crisis-support"


def test_control_intents_win_in_session_and_stop_ends_it(lib, voicecoach_home):
    journal = Journal.open(voicecoach_home)
    coach = make(lib, voicecoach_home, journal)
    coach.begin(0.0, "box-breathing")
    say(coach, 2.0, "stop")
    assert coach.engine is None
    assert journal.sessions()[-1].status == "stopped"


def test_an_answer_is_not_taken_for_a_command(lib, voicecoach_home):
    coach = make(lib, voicecoach_home)
    coach.begin(0.0, "thought-record")
    now, _ = advance(coach, 0.0)
    say(coach, now + 1, "i couldn't stop thinking about him")
    assert coach.engine is not None
    assert coach.engine.answers["situation"] == "i couldn't stop thinking about him"


def test_asking_for_another_technique_mid_session_switches(lib, voicecoach_home):
    coach = make(lib, voicecoach_home)
    coach.begin(0.0, "box-breathing")
    coach.engine.params["rate_anxiety"] = False
    now, _ = advance(coach, 0.0, until_listening=True, limit=8.0)
    say(coach, 8.0, "can we do the grounding exercise instead")
    assert coach.engine.script.id == "grounding-54321"


def test_a_whole_thought_record_conversation(lib, voicecoach_home):
    journal = Journal.open(voicecoach_home)
    coach = make(lib, voicecoach_home, journal)
    talk = converse(coach, ["help me reframe this thought", "he didn't text back all evening", "scared", "8",
                            "he's losing interest in me"])
    asked = [" ".join(t.spoken).lower() for t in talk.turns]
    assert "what happened" in asked[0]
    assert "what did you feel" in asked[1]
    assert "how strong" in asked[2]
    assert "what went through your mind" in asked[3]
    assert all(not t.match.crisis for t in talk.turns)
    assert coach.engine is not None and coach.engine.script.id == "thought-record"
    assert coach.engine.answers["situation"] == "he didn't text back all evening"
    journal.close()

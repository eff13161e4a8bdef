"""The crisis screen, category by category, on the sentence file tests/sentences/crisis_en.yaml:
every crisis statement caught (also without punctuation, shouted, with small words dropped or
misheard), ambiguous statements asked about, idioms and ordinary sentences left alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from voicecoach.crisis import CrisisScreen, screen
from voicecoach.errors import LocatedError
from voicecoach.intents import load_matcher

DATA = yaml.safe_load((Path(__file__).parent / "sentences" / "crisis_en.yaml").read_text(encoding="utf-8"))
CRISIS = [(cat, s) for cat, lines in DATA["crisis"].items() for s in lines]
CATEGORIES = {"direct", "indirect", "self_harm", "overdose", "farewell", "hopelessness", "method"}


def bare(text: str) -> str:
    return re.sub(r"[^\w\s]", "", text.lower()).replace("_", " ")


@pytest.fixture(scope="module")
def matcher(tmp_path_factory):
    return load_matcher(tmp_path_factory.mktemp("home"))


def test_every_category_has_several_sentences():
    assert CATEGORIES <= set(DATA["crisis"])
    for cat in CATEGORIES:
        assert len(DATA["crisis"][cat]) >= 4, cat


@pytest.mark.parametrize("cat,text", CRISIS, ids=[s for _, s in CRISIS])
def test_crisis_is_caught(matcher, cat, text):
    for variant in (text, bare(text), text.upper(), bare(text) + " um yeah"):
        r = screen(variant)
        assert r.is_crisis and r.matched, (cat, variant)
        for in_session in (False, True):
            for expecting in (False, True):
                m = matcher.match(variant, in_session=in_session, expecting_answer=expecting)
                assert m.crisis and m.name == "crisis" and m.confidence == 1.0, variant


def test_crisis_survives_recognition_slips():
    slips = ["i want to kill my self", "i want too die", "want to and my life", "i wanna dye",
             "i want die", "i wish i was dead", "i wish eye was dead", "every one would be better of without me",
             "no body would notice if i was gone", "i been cutting my self", "took all mi pills",
             "ive been saving pills", "i dont see point in going on", "i want end my life",
             "im going to kil myself", "i feel suicidle", "sewer side", "i took to many pills",
             "this is goodbye i wont be around", "i have nothing to live four", "i want to end it all"]
    missed = [s for s in slips if not screen(s).is_crisis]
    assert not missed, missed


def test_dropping_a_small_word_mostly_keeps_the_screen():
    small = {"to", "a", "the", "i", "my", "im", "of", "is", "be", "and", "just"}
    total = kept = 0
    for _cat, text in CRISIS:
        words = bare(text).split()
        for i, w in enumerate(words):
            if w in small and len(words) > 3:
                total += 1
                r = screen(" ".join(words[:i] + words[i + 1 :]))
                kept += r.is_crisis or r.ask_directly
    assert total and kept / total >= 0.9, (kept, total)


@pytest.mark.parametrize("text", DATA["ambiguous"])
def test_ambiguous_asks_directly(text):
    r = screen(text)
    assert r.ask_directly or r.is_crisis, text
    if not r.is_crisis:
        assert r.category == "ambiguous"


@pytest.mark.parametrize("text", DATA["idioms"])
def test_idiom_is_not_a_crisis(text):
    assert not screen(text).is_crisis, text


@pytest.mark.parametrize("text", DATA["ordinary"])
def test_ordinary_sentence_is_not_a_crisis(matcher, text):
    assert not screen(text).is_crisis, text
    assert not matcher.match(text).crisis
    assert not matcher.match(text, in_session=True).crisis


def test_negation_does_not_clear():
    assert screen("I'm fine, I just want to die").is_crisis
    assert screen("I'm not okay I want to end it").is_crisis
    assert screen("I'm not going to kill myself but I've been cutting").is_crisis
    r = screen("I'm not suicidal")
    assert not r.is_crisis and r.ask_directly


def test_an_idiom_does_not_hide_a_crisis_in_the_same_breath():
    assert screen("I nearly died laughing earlier but honestly I want to die").is_crisis
    assert screen("my phone is dying and so am I, I want to kill myself").is_crisis


def test_bad_crisis_file_names_line(tmp_path):
    path = tmp_path / "crisis.yaml"
    path.write_text("categories:\n  direct:\n    - \"want to (die\"\n", encoding="utf-8")
    with pytest.raises(LocatedError) as err:
        CrisisScreen.from_file(path)
    assert f"{path}:3:" in str(err.value)


WORDS = ["today", "work", "he", "she", "text", "phone", "coffee", "the", "and", "really", "tired",
         "um", "so", "weekend", "message", "dinner", "my", "partner", "late", "reply", "okay",
         "i", "don't", "know", "anyway", "sorry", "week", "night", "just", "like", "home", "seven"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_random_text_never_raises(text):
    r = screen(text)
    assert isinstance(r.is_crisis, bool) and isinstance(r.ask_directly, bool)


# Statements whose meaning depends on what follows ("i've got a rope" + "swing for the kids") are
# caught when said on their own and asked about otherwise; the rest must survive any surrounding.
EMBEDDABLE = [c for c in CRISIS if c[1] not in ("i've got a rope", "i'm thinking of jumping")]


# A word that joins the end of a statement into an everyday idiom changes what was said: "I wish
# I was dead" + "tired" is "I wish I was dead tired" (exhausted), so it is not an unrelated word.
JOINS_IDIOM = {"dead": {"tired"}}


def joins_idiom(text: str, after: list[str]) -> bool:
    last = bare(text).split()[-1]
    return bool(after) and after[0] in JOINS_IDIOM.get(last, set())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(EMBEDDABLE), st.lists(st.sampled_from(WORDS), max_size=10),
       st.lists(st.sampled_from(WORDS), max_size=10), st.booleans())
def test_crisis_among_unrelated_words_is_caught(item, before, after, punctuate):
    _cat, text = item
    assume(not joins_idiom(text, after))
    text = text if punctuate else bare(text)
    assert screen(" ".join([*before, text, *after])).is_crisis


def test_every_crisis_statement_survives_any_one_unrelated_word_either_side():
    # the same property, exhaustively for one word (hypothesis samples the longer surroundings)
    missed = [s for _cat, text in EMBEDDABLE for w in WORDS
              for s in (f"{w} {bare(text)}", f"{bare(text)} {w}")
              if not joins_idiom(text, [w]) and not screen(s).is_crisis]
    assert not missed, missed


@pytest.mark.parametrize("text", ["I wish I was dead, tired of living",
                                  "i wish i was dead tired of living like this"])
def test_a_wish_to_be_dead_then_tired_of_living_is_caught(text):
    assert screen(text).is_crisis


def test_second_line_catches_what_no_pattern_names():
    # cue classes combined within a few words: found by the cue scorer, not a category pattern
    for text in ["i've got a stash of my mum's codeine hidden away",
                 "i scratched my thighs till there was blood everywhere"]:
        r = screen(text)
        assert r.is_crisis and " + " in (r.matched or ""), (text, r)


def test_start_anchor_keeps_a_farewell_apart_from_a_question():
    assert screen("tell my mum i'm sorry").is_crisis
    assert not screen("how do i tell him i'm sorry").is_crisis


def test_gap_words_do_not_hide_or_create_a_crisis():
    assert screen("i think i would honestly rather be dead").is_crisis
    assert not screen("I feel like I'm going to die, my heart is racing").is_crisis


def test_bad_combination_names_line(tmp_path):
    path = tmp_path / "crisis.yaml"
    path.write_text("categories:\n  direct: [die]\ncues:\n  a: [x]\ncombinations:\n  - {all: [a, b]}\n",
                    encoding="utf-8")
    with pytest.raises(LocatedError) as err:
        CrisisScreen.from_file(path)
    assert f"{path}:6:" in str(err.value)


TRAINED_ON = [(name, text) for name in ("crisis_indirect_train4.yaml", "crisis_indirect_train5.yaml")
              for text in yaml.safe_load((Path(__file__).parent / "sentences" / "training" / name)
                                         .read_text(encoding="utf-8"))["crisis"]]


def flagged_both(matcher, text: str) -> bool:
    """Flagged (a crisis, or asked about) idle and in a session alike."""
    return matcher.match(text).flagged and matcher.match(text, in_session=True).flagged


@pytest.mark.parametrize("name,text", TRAINED_ON)
def test_every_statement_of_the_batches_tuned_on_is_flagged(matcher, name, text):
    """Target, not measurement: a batch tuned on is held to catching every statement."""
    assert flagged_both(matcher, text), text


@pytest.mark.parametrize("text,crisis", [
    ("no point carryin on anymore tbh", True),
    ("i've run out of reasons to stay", True),
    ("i don't see a reason to keep going without her", True),
    ("there's no reason for me to wake up", True),
    ("no point carrying on with this diet", False),
    ("there's no reason to stay at the party", False),
    ("no point going on about it", False),
    ("no point staying in this job", False),
])
def test_no_reason_to_go_on_is_a_crisis_going_on_with_something_is_not(matcher, text, crisis):
    assert matcher.match(text).crisis is crisis, text


@pytest.mark.parametrize("text,asked", [
    ("i'm done. for good this time", True),
    ("this is the last time i'll talk to you", True),
    ("what's the tallest bridge near me", True),
    ("i'm done for good with that job", False),
    ("this is the last time i'll talk to you about him, promise", False),
    ("the tallest building in the city is so pretty at night", False),
])
def test_a_final_word_or_a_height_nearby_is_asked_about_and_the_everyday_one_is_not(matcher, text, asked):
    assert matcher.match(text).flagged is asked, text


@pytest.mark.parametrize("text", [
    "this is my final message tonight, i love you all, forgive me",
    "this is my last message for today and forever",
    "one last thing tonight, i've left the letters on the table",
    "one last thing before bed, i've left the letters for mum",
    # said without commas, as a recogniser writes them
    "this is my final message tonight thank you for everything",
    "this is my last message tonight see you on the other side",
    "this is my last message tonight i'm exhausted of fighting",
    "this is my last message tonight im tired of living",
    "this is my last message tonight i'm going to bed forever",
    "this is my last message tonight bye forever",
    "this is my last message tonight x tell mum i'm sorry",
    "this is my last message tonight then i'm gone",
])
def test_a_last_message_tonight_is_a_crisis_whatever_follows(matcher, text):
    """"My last message tonight" is left to mean what it says: blanking it as a leave-taking hid
    the farewells said with it (docs/intents.md, "Leave-takings")."""
    assert matcher.match(text).crisis, text


@pytest.mark.parametrize("text", [
    "thank you for everything. this is my last message tonight. goodnight",
    "thanks for everything, this is my last message tonight, bye x",
    "the pills are working this is my last message tonight goodnight",
    "ive taken everything. this is my last message tonight, im so sleepy, night",
    "everyone will be better off. this is my last message tonight. goodnight",
    "i wont bother you again. this is my last message tonight. bye",
    "im done with this conversation, ive made up my mind",
    "im done with this chat, tonight is the night",
])
def test_a_farewell_before_a_sign_off_is_flagged(matcher, text):
    """What a person says before "goodnight" is read with it (found hidden by a leave-taking
    exclusion that was tried and dropped)."""
    assert flagged_both(matcher, text), text


@pytest.mark.parametrize("text,flagged", [
    ("done with this life", True),
    ("im done with this life and the drama", True),
    ("i'm done with my life and the exams", True),
    ("i'm so done with this world and its politics", True),
    ("i'm done with this cold cruel world", True),
    ("i'm done with the world", True),
    ("i keep asking god to just take me, i'm not fussy how", True),
    ("i pray every night for god to take me", True),
    ("going to sleep and not waking up", True),
    ("everyone will be better off", True),
    ("done with everything", True),
    ("ive taken everything", True),
    ("everyone will be better off with the new timetable", False),
    ("i'm so done with this cold", False),
    ("done with this cold already", False),
])
def test_done_with_the_world_is_flagged_and_a_cold_is_not(matcher, text, flagged):
    assert matcher.match(text).flagged is flagged and matcher.match(text, in_session=True).flagged is flagged, text

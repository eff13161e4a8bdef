"""Thinking traps and core beliefs in spoken (lower-case, unpunctuated) and typed text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicecoach.errors import ConfigError, VoicecoachError
from voicecoach.normalize import normalize, spell_out, with_apostrophes, written
from voicecoach.patterns import PatternHit, find, load_patterns


def traps(text: str) -> set[str]:
    return {h.name for h in find("thinking_traps", text)}


def beliefs(text: str) -> set[str]:
    return {h.name for h in find("core_beliefs", text)}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("he's going to leave me", {"fortune_telling"}),
        ("hes going to leave me", {"fortune_telling"}),
        ("he is gonna dump me", {"fortune_telling"}),
        ("she must hate me", {"mind_reading"}),
        ("he doesnt care about me anymore", {"mind_reading"}),
        ("i know she thinks im boring", {"mind_reading"}),
        ("i always ruin everything", {"all_or_nothing", "overgeneralising"}),
        ("nobody ever stays", {"overgeneralising"}),
        ("this is a disaster i cant cope", {"catastrophising"}),
        ("its all my fault", {"personalising"}),
        ("what did i do wrong", {"personalising"}),
        ("i should be over this by now", {"should_statements"}),
        ("it feels like he doesnt want me", {"emotional_reasoning"}),
        ("i am such an idiot", {"labelling"}),
        ("he was just being nice", {"discounting_positive"}),
    ],
)
def test_thinking_traps(text, expected):
    assert expected <= traps(text), traps(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("he's going to leave me", "people_leave"),
        ("everyone leaves eventually", "people_leave"),
        ("she will get tired of me", "people_leave"),
        ("i am not good enough for him", "not_enough"),
        ("im not enough", "not_enough"),
        ("love never lasts", "love_unreliable"),
        ("i cant trust anyone", "love_unreliable"),
        ("nobody could ever love me", "unlovable"),
        ("i feel like nobody wants me", "unlovable"),
        ("why would anyone love me", "unlovable"),
        ("i am too needy", "too_much"),
        ("i push everyone away", "too_much"),
    ],
)
def test_core_beliefs(text, expected):
    assert expected in beliefs(text), beliefs(text)


@pytest.mark.parametrize(
    "text",
    [
        "he did not reply to my message",
        "we had dinner and watched a film",
        "what should i do",
        "i went for a walk",
        "",
    ],
)
def test_neutral_text_finds_no_trap_or_belief(text):
    assert traps(text) == set()
    assert beliefs(text) == set()


def test_typed_and_spoken_forms_agree():
    assert traps("He's going to leave me!") == traps("hes going to leave me")
    assert beliefs("She MUST hate me...") == beliefs("she must hate me")


def test_hits_carry_gentle_lines_in_our_words():
    [hit] = [h for h in find("thinking_traps", "she must hate me") if h.name == "mind_reading"]
    assert isinstance(hit, PatternHit)
    assert hit.label == "mind reading"
    assert hit.line.startswith("That sounds like mind reading")
    [belief] = find("core_beliefs", "he's going to leave me")
    assert belief.label == "People will leave me"
    for sets in load_patterns().values():
        for p in sets:
            low = p.line.lower()
            assert "you have" not in low and "disorder" not in low and "diagnos" not in low
            assert len(p.line) < 200


def test_guide_core_beliefs_are_present():
    labels = {p.label for p in load_patterns()["core_beliefs"]}
    assert {"I am not enough", "People will leave me", "Love is not reliable"} <= labels


def test_each_hit_once_in_file_order():
    hits = find("thinking_traps", "always always never everything is ruined always")
    names = [h.name for h in hits]
    assert len(names) == len(set(names))


def test_unknown_set_is_an_error():
    with pytest.raises(VoicecoachError, match="unknown pattern set"):
        find("horoscopes", "anything")


def test_rules_read_contractions_spelled_out():
    assert spell_out("He’s gonna LEAVE me, isn't he?") == "he is going to leave me is not he"
    assert spell_out("I can't; I won't") == "i cannot i will not"
    # A bare form that is another word is left alone.
    assert spell_out("we'll see, well") == "we will see well"


def test_bad_rule_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "patterns.yaml"
    bad.write_text(
        "thinking_traps:\n"
        "  - name: x\n"
        "    label: x\n"
        "    line: x\n"
        "    rules:\n"
        "      - 'fine'\n"
        "      - '(unclosed'\n"
        "core_beliefs:\n"
        "  - {name: y, label: y, line: y, rules: [y]}\n"
    )
    with pytest.raises(ConfigError, match=r"patterns.yaml:7: x: bad rule"):
        load_patterns(bad)


@given(st.text(max_size=200))
def test_find_never_raises(text):
    for set_name in ("thinking_traps", "core_beliefs"):
        for hit in find(set_name, text):
            assert hit.name and hit.line


def test_one_contraction_table_read_three_ways():
    """The matcher's short form, the recogniser's written form and the spelled-out form of the
    same sentence agree, and a bare word that is a word of its own stays as it is."""
    short = normalize("You're sure that's it, I'm done")
    assert short == "youre sure thats it im done"
    assert with_apostrophes(short) == "you're sure that's it i'm done"
    assert spell_out(with_apostrophes(short)) == "you are sure that is it i am done"
    assert written("i am done") == "I'm done"
    assert with_apostrophes("we were well") == "we were well"

"""chat through the real CLI: scripted input, the journal it fills, and its edges."""

from __future__ import annotations

import json

from conftest import run_cli

TWELVE = [
    "at dinner he looked at his phone and didn't talk to me",
    "anxious and a bit sad",
    "eight",
    "he's bored of me and he's going to leave",
    "ninety percent",
    "he barely spoke all evening",
    "he said he had a long day at work and he hugged me when we got home",
    "he was tired and stressed about his project",
    "he was tired, it doesn't mean he wants to leave",
    "about thirty",
    "four out of ten",
    "ask him tomorrow if everything is okay",
]


def test_typed_thought_record_walks_every_step_and_exports_every_answer(voicecoach_home):
    env = {"VOICECOACH_HOME": str(voicecoach_home)}
    r = run_cli("chat", "--mute", "--script", "thought-record", input="\n".join(TWELVE) + "\n", env=env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    # Every question was asked, in order.
    for q in ("what happened", "what did you feel", "how strong", "what went through your mind",
              "how much do you believe", "evidence supports", "doesn't fit", "what else could explain",
              "more balanced", "original thought", "feeling now", "small way to check"):
        assert q in r.stdout.lower(), q
    out = run_cli("journal", "export", "--format", "json", env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema_version"] == 1
    (entry,) = [e for e in doc["entries"] if e["kind"] == "thought_record"]
    assert entry["complete"] is True
    assert entry["situation"] == TWELVE[0]
    assert entry["intensity_before"] == 8 and entry["belief_before"] == 90
    assert entry["belief_after"] == 30 and entry["intensity_after"] == 4
    assert entry["balanced_thought"] == TWELVE[8]
    assert entry["plan"] == TWELVE[11]


def test_end_of_input_saves_what_was_answered(voicecoach_home):
    env = {"VOICECOACH_HOME": str(voicecoach_home)}
    r = run_cli("chat", "--mute", "--script", "thought-record", input="a quiet evening\nscared\n", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(run_cli("journal", "export", "--format", "json", env=env).stdout)
    (entry,) = doc["entries"]
    assert entry["situation"] == "a quiet evening" and entry["feeling"] == "scared"
    assert entry["complete"] is False


def test_unreadable_rating_is_asked_again_and_takes_the_next_line(voicecoach_home):
    env = {"VOICECOACH_HOME": str(voicecoach_home)}
    lines = ["a text went unanswered", "worried", "pretty bad", "7"]
    r = run_cli("chat", "--mute", "--script", "thought-record", input="\n".join(lines) + "\n", env=env)
    assert r.returncode == 0
    assert "didn't catch a number" in r.stdout
    doc = json.loads(run_cli("journal", "export", "--format", "json", env=env).stdout)
    assert doc["entries"][0]["intensity_before"] == 7


def test_free_chat_routes_a_request_and_a_crisis(voicecoach_home):
    env = {"VOICECOACH_HOME": str(voicecoach_home)}
    r = run_cli("chat", "--mute", input="i feel like everyone would be better off without me\n", env=env)
    assert r.returncode == 0
    assert "988" in r.stdout or "116 123" in r.stdout or "helpline" in r.stdout.lower()


def test_first_run_speaks_the_disclaimer_once(voicecoach_home):
    env = {"VOICECOACH_HOME": str(voicecoach_home)}
    first = run_cli("chat", "--mute", input="hello\n", env=env)
    second = run_cli("chat", "--mute", input="hello\n", env=env)
    assert "not a therapist" in first.stdout
    assert "not a therapist" not in second.stdout

"""The intent matcher on the sentence files in tests/sentences/, its own templates, its loader and
the ``voicecoach intent`` command. Real YAML, real matcher."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from voicecoach.crisis import screen
from voicecoach.errors import LocatedError
from voicecoach.intents import (
    IntentMatcher,
    load_matcher,
    matcher_from_yaml,
    normalize,
)

SENTENCES = Path(__file__).parent / "sentences"
CONTRACT = ["anxious", "breathe", "ground", "reframe", "sleep", "relax", "i_statement", "urge", "soothe",
            "compassion", "trigger", "learn", "professional_help", "partner_support", "stop", "pause",
            "resume", "repeat", "skip", "more", "slower", "faster", "louder", "quieter", "yes", "no",
            "help", "goodbye", "thanks", "sense_of_self", "strengths", "secure_partner", "review"]


# The targets (docs/intents.md): typed intents right at least 95% of the time, every crisis
# statement caught, no ordinary sentence flagged, at most 2 idioms in 10 flagged.
INTENT_TARGET = 0.95
IDIOMS_FLAGGED_AT_MOST = 0.2


def _measured(f: Path) -> bool:
    """Batches (train_batch*.yaml) were written blind, measured, then tuned on: training sets,
    held to the targets as a whole (test_training_batches_meet_the_targets) rather than sentence
    by sentence."""
    return f.stem.startswith("train_batch")


ASKED_ABOUT = {"holdout_en:i've been on edge since this morning":
               "the learned crisis layer asks about it directly (p = 0.65; docs/intents.md, The learned crisis layer)"}
"""Unseen sentences the coach gets wrong, with why: a false alarm is a defect, recorded here until fixed."""


def _cases():
    for f in sorted(SENTENCES.glob("*.yaml")):
        if _measured(f):
            continue
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        for block in data.get("tests", []):
            for s in block["sentences"]:
                case = f"{f.stem}:{s}"
                marks = [pytest.mark.xfail(strict=True, reason=ASKED_ABOUT[case])] if case in ASKED_ABOUT else []
                yield pytest.param(s, block["intent"]["name"], block["intent"].get("slots") or {},
                                   block.get("context") or {}, id=case, marks=marks)


@pytest.fixture(scope="module")
def matcher(tmp_path_factory) -> IntentMatcher:
    return load_matcher(tmp_path_factory.mktemp("home"))


@pytest.mark.parametrize("text,want,slots,ctx", list(_cases()))
def test_sentence(matcher, text, want, slots, ctx):
    m = matcher.match(text, in_session=bool(ctx.get("in_session")),
                      expecting_answer=bool(ctx.get("expecting_answer")))
    assert not m.crisis, text
    if want == "any_command":
        assert m.name in matcher.acting("in_answer"), (text, m)
    else:
        assert m.name == want, (text, m)
    for k, v in slots.items():
        assert str(m.slots.get(k)) == str(v), (text, k, m.slots)


# Below the intent target even though tuned on (docs/intents.md has the figures and the misses).
BELOW_TARGET = {"train_batch2": "103/109 = 94.5% with the semantic layer, 88% without",
                "train_batch3": "160/169 = 94.7% with the semantic layer, 90% without"}


def _batches():
    for p in sorted(SENTENCES.glob("*.yaml")):
        if _measured(p):
            marks = [pytest.mark.xfail(strict=True, reason=f"intents below the 95% target: {BELOW_TARGET[p.stem]}")] \
                if p.stem in BELOW_TARGET else []
            yield pytest.param(p, marks=marks, id=p.stem)


@pytest.mark.parametrize("path", list(_batches()))
def test_training_batches_meet_the_intent_target(matcher, path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    total = right = 0
    for block in data.get("tests", []):
        ctx = block.get("context") or {}
        want = block["intent"]["name"]
        for s in block["sentences"]:
            m = matcher.match(s, in_session=bool(ctx.get("in_session")),
                              expecting_answer=bool(ctx.get("expecting_answer")))
            total += 1
            right += m.name == want
    # tuned on, so held to at least what the target asks of sentences never seen
    assert total >= 100 and right / total >= INTENT_TARGET, (right, total)


@pytest.mark.parametrize("path", sorted(p for p in SENTENCES.glob("*.yaml") if _measured(p)), ids=lambda p: p.stem)
def test_training_batches_meet_the_crisis_targets(matcher, path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    crisis = [s for lines in (data.get("crisis") or {}).values() for s in lines]
    missed = [s for s in crisis if not matcher.match(s).crisis
              or not matcher.match(s, in_session=True, expecting_answer=True).crisis]
    assert crisis and not missed, missed
    ordinary = [s for s in data.get("ordinary") or [] if matcher.match(s).crisis]
    assert not ordinary, ordinary
    idioms = data.get("idioms") or []
    flagged = [s for s in idioms if screen(s).is_crisis]
    assert idioms and len(flagged) <= IDIOMS_FLAGGED_AT_MOST * len(idioms), flagged


def test_contract_intents_exist(matcher):
    assert set(CONTRACT) <= set(matcher.intents)


@pytest.mark.parametrize("name", CONTRACT)
def test_templates_match_their_own_intent(matcher, name):
    sentences = matcher.template_sentences(name)
    assert sentences, name
    rng = random.Random(name)
    sample = rng.sample(sentences, min(60, len(sentences)))
    wrong = []
    for text, _slots in sample:
        if screen(text).is_crisis or screen(text).ask_directly:
            continue
        m = matcher.match(text, in_session=name in matcher.acting("control"))
        if m.name != name:
            wrong.append((text, m.name, m.best))
    # a template sentence may also be a fine example of a more specific intent, but rarely
    assert len(wrong) <= max(1, len(sample) // 20), wrong


def test_below_threshold_keeps_the_best_guess(matcher):
    m = matcher.match("purple giraffe spreadsheet")
    assert m.name is None
    assert m.best is not None and 0 <= m.confidence < matcher.threshold


def test_technique_beats_state_and_controls_win_in_session(matcher):
    assert matcher.match("I'm panicking, can we breathe").name == "breathe"
    assert matcher.match("I'm panicking").name == "anxious"
    assert matcher.match("I want to stop", in_session=True).name == "stop"
    assert matcher.match("I can't stop crying", in_session=True).name == "anxious"


def test_answers_are_not_commands_unless_clearly(matcher):
    assert matcher.match("stop please", in_session=True, expecting_answer=True).name == "stop"
    m = matcher.match("I couldn't stop thinking about him", in_session=True, expecting_answer=True)
    assert m.name is None and not m.crisis
    m = matcher.match("about a seven", in_session=True, expecting_answer=True)
    assert m.name is None and m.slots.get("number") == 7


def test_crisis_first_in_every_state(matcher):
    for a in (False, True):
        for b in (False, True):
            m = matcher.match("stop. i want to die", in_session=a, expecting_answer=b)
            assert m.crisis and m.name == "crisis" and m.confidence == 1.0


def test_ambiguous_statement_asks(matcher):
    m = matcher.match("I just want it all to stop", in_session=True)
    assert m.name == "crisis_check" and m.slots["ask_directly"] is True and not m.crisis


def test_command_phrases(matcher):
    phrases = matcher.command_phrases()
    assert len(phrases) == len(set(phrases))
    for p in phrases:
        assert p == p.lower() and all(w.isalpha() for w in p.split()), p
    for must in ["stop", "pause", "skip", "next", "tell me more", "yes", "no", "i want to die",
                 "i want to kill myself", "suicide", "hurt myself", "ground me", "breathe"]:
        assert must in phrases, must
    for p in phrases:
        m = matcher.match(p, in_session=True)
        r = screen(p)
        assert m.name is not None or r.ask_directly, p


def test_template_expansions_are_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("VOICECOACH_CACHE", str(tmp_path / "cache"))
    yaml_text = "intents:\n  paint:\n    group: technique\n    templates: ['paint it (red|blue)']\n"
    first = matcher_from_yaml(yaml_text, "mini.yaml")
    files = list((tmp_path / "cache").glob("expansions-*.json"))
    assert len(files) == 1
    again = matcher_from_yaml(yaml_text, "mini.yaml")
    assert again.template_sentences("paint") == first.template_sentences("paint")
    assert again.match("paint it blue").name == "paint"
    changed = matcher_from_yaml(yaml_text.replace("blue", "green"), "mini.yaml")
    assert changed.match("paint it green").name == "paint"
    assert len(list((tmp_path / "cache").glob("expansions-*.json"))) == 2
    files[0].write_text("not json", encoding="utf-8")  # a damaged cache is rebuilt
    assert matcher_from_yaml(yaml_text, "mini.yaml").match("paint it red").name == "paint"
    monkeypatch.setenv("VOICECOACH_CACHE", "")
    assert matcher_from_yaml(yaml_text, "mini.yaml").match("paint it red").name == "paint"


def test_a_load_from_a_warm_cache_gives_the_same_matcher(tmp_path, monkeypatch):
    # how much faster it is: scripts/bench.py (matcher load, warm cache beside no cache)
    import voicecoach.crisis as crisis_mod
    import voicecoach.intents as intents_mod

    monkeypatch.setenv("VOICECOACH_CACHE", str(tmp_path / "cache"))
    intents_mod._CACHE.clear()
    intents_mod.load_matcher(tmp_path)  # fills the cache
    intents_mod._CACHE.clear()
    crisis_mod.default_screen.cache_clear()
    assert list((tmp_path / "cache").glob("expansions-*.json"))
    m = intents_mod.load_matcher(tmp_path)
    assert m.match("I'm anxious").name == "anxious"


def test_normalize():
    assert normalize("I'm NOT okay!!") == "im not okay"
    assert normalize("4-7-8 breathing") == "four seven eight breathing"
    assert normalize("give me 10 minutes") == "give me ten minutes"
    assert normalize("I can not") == "i cant"


def test_user_intents_merge_over_packaged(tmp_path):
    (tmp_path / "intents.yaml").write_text(
        "intents:\n"
        "  breathe:\n"
        "    templates:\n"
        "      - \"let's do the balloon\"\n"
        "  hydrate:\n"
        "    group: technique\n"
        "    templates: [\"remind me to drink water\"]\n"
        "    keywords: {water: 3}\n",
        encoding="utf-8",
    )
    m = load_matcher(tmp_path)
    assert m.match("let's do the balloon").name == "breathe"
    assert m.match("remind me to drink some water").name == "hydrate"
    assert m.match("I'm anxious").name == "anxious"
    assert load_matcher(tmp_path) is m


@pytest.mark.parametrize("text,line", [
    ("intents:\n  breathe:\n    templates:\n      - \"(unclosed\"\n", 4),
    ("intents:\n  breathe:\n    keywords:\n      breath: lots\n", 4),
    ("intents:\n  breathe: [\n", 3),
    ("intents:\n  breathe:\n    colour: blue\n", 3),
    ("intents:\n  breathe:\n    templates: [\"{nolist}\"]\n", 3),
])
def test_bad_user_file_names_file_and_line(tmp_path, text, line):
    (tmp_path / "intents.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(LocatedError) as err:
        load_matcher(tmp_path)
    assert f"intents.yaml:{line}:" in str(err.value)


def test_from_yaml_and_from_dict():
    m = matcher_from_yaml(
        "lists:\n  colour:\n    values: [red, {in: '(blue|navy)', out: blue}]\n"
        "intents:\n  paint:\n    group: technique\n    slots: [colour]\n"
        "    templates: ['paint it {colour}']\n", "mini.yaml")
    got = m.match("paint it navy")
    assert got.name == "paint" and got.slots == {"colour": "blue"}


def _cli(args, stdin=None, home=None):
    env = {"VOICECOACH_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "voicecoach", "intent", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_json_on_stdin(tmp_path):
    out = _cli(["--json"], "I'm anxious\n\nlet's do 478 breathing\ni want to die\nzxqv\n", tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["I'm anxious", "let's do 478 breathing", "i want to die", "zxqv"]
    assert set(rows[0]) == {"text", "intent", "best", "confidence", "slots", "crisis"}
    assert rows[0]["intent"] == "anxious" and rows[0]["crisis"] is False
    assert rows[1]["intent"] == "breathe" and rows[1]["slots"] == {"pattern": "478"}
    assert rows[2]["intent"] == "crisis" and rows[2]["crisis"] is True
    assert rows[3]["intent"] is None and rows[3]["best"]


def test_cli_readable_text_argument(tmp_path):
    out = _cli(["give", "me", "ten", "minutes"], home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "urge" in out.stdout and "minutes=10" in out.stdout


def test_cli_bad_user_file(tmp_path):
    (tmp_path / "intents.yaml").write_text("intents: [\n", encoding="utf-8")
    out = _cli(["hello"], home=tmp_path)
    assert out.returncode == 1 and "intents.yaml:" in out.stderr

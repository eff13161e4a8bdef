"""Property and fuzz tests: the parsers a person's files and words go through never crash.

- The script loader/validator and the config loader, on random text and on mutated copies of the
  real files: the only outcome besides success is an error naming ``file:line``.
- The crisis screen and the intent matcher on random text: never raise; a crisis sentence among
  everyday words is still caught.
- The number parser: never raises, stays on its scale, reads back every number it spells.
- The WAV reader on corrupt headers and random bytes: an AudioChunk or an AudioError, nothing else.

Everything here is the real code; hypothesis only makes the inputs.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from voicecoach.audio import decode_wav, encode_wav, read_wav
from voicecoach.config import config_from_text, data_path
from voicecoach.errors import AudioError, ConfigError, ScriptError
from voicecoach.numbers import number_words, parse_minutes, parse_number
from voicecoach.scripts import builtin_dir, load_script_text
from voicecoach.types import AudioChunk

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BUILTIN_SCRIPTS = sorted(builtin_dir().glob("*.yaml"))
SCRIPT_TEXTS = {p.name: p.read_text(encoding="utf-8") for p in BUILTIN_SCRIPTS}
CONFIG_TEXT = data_path("config.yaml").read_text(encoding="utf-8")

LOCATED = re.compile(r"^(?P<file>[^\n]+?):(?P<line>\d+): \S")


def assert_located(err: Exception, file: str, text: str) -> None:
    """One line, ``file:line: message``, the line inside the file (or just past its end)."""
    msg = str(err)
    assert "\n" not in msg, msg
    assert "Traceback" not in msg
    m = LOCATED.match(msg)
    assert m is not None, f"no file:line in {msg!r}"
    assert m.group("file") == file
    n_lines = text.count("\n") + 1
    assert 1 <= int(m.group("line")) <= n_lines + 1, msg


# --------------------------------------------------------------------------------------------
# Mutations of real files


def _lines_mutation(text: str, data: st.DataObject) -> str:
    lines = text.split("\n")
    kind = data.draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "dedent", "truncate",
                                      "replace_value", "insert_garbage", "drop_colon", "retab"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    line = lines[i]
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, line)
    elif kind == "swap":
        j = data.draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "indent":
        lines[i] = " " * data.draw(st.integers(1, 5)) + line
    elif kind == "dedent":
        lines[i] = line.lstrip()
    elif kind == "truncate":
        cut = data.draw(st.integers(0, len(text)))
        return text[:cut]
    elif kind == "replace_value" and ":" in line:
        key, _, _ = line.partition(":")
        value = data.draw(st.sampled_from(["", " ~", " 12", " -3", " 1e9", " true", " [1, 2", " {a: 1}",
                                           " [a, b]", " \"unterminated", " !!python/object:os.system ls",
                                           " &a x", " *nope", " ?", " |", " 0x1F", " .nan", " null"]))
        lines[i] = key + ":" + value
    elif kind == "insert_garbage":
        garbage = data.draw(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20))
        lines.insert(i, garbage)
    elif kind == "drop_colon":
        lines[i] = line.replace(":", "", 1)
    elif kind == "retab":
        lines[i] = line.replace("  ", "\t", 1)
    return "\n".join(lines)


_WEIRD = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _tree_mutation(node, data: st.DataObject, depth: int = 0):
    """Replace one node somewhere in a parsed YAML tree with a value of some other shape."""
    if isinstance(node, dict) and node and depth < 6:
        key = data.draw(st.sampled_from(sorted(node, key=str)))
        if data.draw(st.booleans()):
            node[key] = _tree_mutation(node[key], data, depth + 1)
        elif data.draw(st.booleans()):
            del node[key]
        else:
            node[data.draw(st.text(min_size=1, max_size=8))] = data.draw(_WEIRD)
        return node
    if isinstance(node, list) and node and depth < 6:
        i = data.draw(st.integers(0, len(node) - 1))
        if data.draw(st.booleans()):
            node[i] = _tree_mutation(node[i], data, depth + 1)
        else:
            node[i] = data.draw(_WEIRD)
        return node
    return data.draw(_WEIRD)


def _plain(node):
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _check_script(text: str, file: str = "mutated.yaml") -> None:
    script, errors = load_script_text(text, file)
    assert script is not None or errors, "a script that did not load must say why"
    for err in errors:
        assert isinstance(err, ScriptError)
        assert_located(err, file, text)


# --------------------------------------------------------------------------------------------
# Scripts


@FAST
@given(st.text(max_size=400))
def test_script_loader_on_random_text_gives_located_errors(text):
    _check_script(text)


@FAST
@given(st.sampled_from(sorted(SCRIPT_TEXTS)), st.data())
def test_script_loader_on_line_mutations_of_real_scripts(name, data):
    text = SCRIPT_TEXTS[name]
    for _ in range(data.draw(st.integers(1, 3))):
        text = _lines_mutation(text, data)
    _check_script(text)


@SLOW
@given(st.sampled_from(sorted(SCRIPT_TEXTS)), st.data())
def test_script_validator_on_structural_mutations_of_real_scripts(name, data):
    tree = _plain(yaml.safe_load(SCRIPT_TEXTS[name]))
    for _ in range(data.draw(st.integers(1, 3))):
        tree = _tree_mutation(tree, data)
    try:
        text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        assume(False)
    _check_script(text)


@pytest.mark.parametrize("path", BUILTIN_SCRIPTS, ids=lambda p: p.stem)
def test_every_builtin_script_still_loads_cleanly(path):
    """The mutation tests start from files that are valid, so every error they see is a mutation's."""
    script, errors = load_script_text(path.read_text(encoding="utf-8"), str(path))
    assert script is not None and errors == []


# --------------------------------------------------------------------------------------------
# Config

_SECTIONS = {
    "voice": ["engine", "rate", "volume", "voice", "output_device"],
    "asr": ["engine", "vosk_model", "whisper_model", "language"],
    "audio": ["input_device", "wake_phrase", "command_silence", "request_silence", "dictation_silence",
              "max_utterance"],
    "dialogue": ["answer_timeout", "intent_threshold"],
    "journal": ["enabled"],
    "logging": ["debug"],
}
_YAML_VALUES = ["~", "true", "no", "12", "-4", "0.5", "1e400", ".inf", ".nan", "'text'", "[1, 2]",
                "{a: 1}", "pyttsx3", "\"\"", "2024-01-01", "0x10", "!!binary aGVsbG8=", "[", "'", "&x 1"]


@FAST
@given(st.text(max_size=300))
def test_config_on_random_text_is_a_located_config_error(text):
    try:
        config_from_text(text, "config.yaml")
    except ConfigError as err:
        assert_located(err, "config.yaml", text)


@FAST
@given(st.lists(st.tuples(st.sampled_from(sorted(_SECTIONS)), st.data()), min_size=1, max_size=4))
def test_config_values_of_any_type_are_accepted_or_a_located_error(entries):
    lines = []
    for section, data in entries:
        lines.append(f"{section}:")
        key = data.draw(st.sampled_from(_SECTIONS[section] + ["typo_key"]))
        lines.append(f"  {key}: {data.draw(st.sampled_from(_YAML_VALUES))}")
    text = "\n".join(lines) + "\n"
    try:
        cfg = config_from_text(text, "config.yaml")
    except ConfigError as err:
        assert_located(err, "config.yaml", text)
        return
    # What was accepted has the declared type.
    assert isinstance(cfg.voice.rate, int) and 60 <= cfg.voice.rate <= 400
    assert isinstance(cfg.voice.volume, float) and 0.0 <= cfg.voice.volume <= 1.0
    assert isinstance(cfg.journal.enabled, bool)
    assert isinstance(cfg.dialogue.answer_timeout, float)


@FAST
@given(st.data())
def test_config_mutations_of_the_packaged_defaults(data):
    text = CONFIG_TEXT
    for _ in range(data.draw(st.integers(1, 3))):
        text = _lines_mutation(text, data)
    try:
        config_from_text(text, "config.yaml")
    except ConfigError as err:
        assert_located(err, "config.yaml", text)


# --------------------------------------------------------------------------------------------
# Crisis screen and intent matcher

CRISIS_SENTENCES = [
    "I want to kill myself",
    "I want to die",
    "I'm going to hurt myself",
    "everyone would be better off without me",
    "I've been saving my pills",
    "I'm thinking about suicide",
    "I want to end my life",
]
# Everyday words that are neither crisis words nor the start of an idiom that blanks one out.
NEUTRAL = ["today", "work", "he", "she", "they", "text", "phone", "coffee", "the", "and", "really",
           "tired", "again", "um", "so", "weekend", "message", "dinner", "yesterday", "honestly",
           "my", "partner", "boyfriend", "girlfriend", "late", "reply", "and", "then", "but", "okay",
           "i", "don't", "know", "anyway", "sorry", "this", "week", "night", "just", "like", "home",
           "friends", "mum", "call", "maybe", "weird", "quiet", "hours"]


def _crisis_screen():
    from voicecoach.crisis import screen

    return screen


@FAST
@given(st.text(max_size=200))
def test_crisis_screen_never_raises_on_random_text(text):
    result = _crisis_screen()(text)
    assert isinstance(result.is_crisis, bool)


@FAST
@given(st.sampled_from(CRISIS_SENTENCES), st.lists(st.sampled_from(NEUTRAL), max_size=12),
       st.lists(st.sampled_from(NEUTRAL), max_size=12), st.sampled_from(["", ".", "!", "...", ","]),
       st.booleans())
def test_crisis_sentence_among_everyday_words_is_caught_by_the_screen(sentence, before, after, punct,
                                                                      upper):
    text = " ".join(before + [sentence + punct] + after)
    if upper:
        text = text.upper()
    assert _crisis_screen()(text).is_crisis, text


def _matcher():
    intents = data_path("intents.yaml")
    if not intents.exists():
        pytest.skip("the intents data (voicecoach/data/intents.yaml) is not installed")
    from voicecoach.intents import load_matcher

    return load_matcher(None)


@pytest.fixture(scope="module")
def matcher():
    return _matcher()


@FAST
@given(text=st.text(max_size=200), in_session=st.booleans(), expecting=st.booleans())
def test_intent_matcher_never_raises_on_random_text(matcher, text, in_session, expecting):
    m = matcher.match(text, in_session=in_session, expecting_answer=expecting)
    assert 0.0 <= m.confidence <= 1.0
    assert m.name is None or m.name == "crisis" or m.name in matcher.intents or m.name == "crisis_check"


@FAST
@given(words=st.lists(st.sampled_from(NEUTRAL + ["breathe", "stop", "ground", "sleep", "seven", "ten",
                                                 "minutes", "percent", "out", "of", "next"]),
                      max_size=25),
       in_session=st.booleans(), expecting=st.booleans())
def test_intent_matcher_never_raises_on_random_word_salad(matcher, words, in_session, expecting):
    m = matcher.match(" ".join(words), in_session=in_session, expecting_answer=expecting)
    assert 0.0 <= m.confidence <= 1.0


@FAST
@given(st.sampled_from(CRISIS_SENTENCES), st.lists(st.sampled_from(NEUTRAL), max_size=12),
       st.lists(st.sampled_from(NEUTRAL), max_size=12), st.booleans(), st.booleans())
def test_crisis_sentence_among_everyday_words_is_caught_by_the_matcher(matcher, sentence, before, after,
                                                                       in_session, expecting):
    text = " ".join(before + [sentence] + after)
    m = matcher.match(text, in_session=in_session, expecting_answer=expecting)
    assert m.crisis and m.name == "crisis", text


# --------------------------------------------------------------------------------------------
# Numbers


@FAST
@given(st.text(max_size=80), st.sampled_from([(0, 10), (0, 100), (1, 5), (1, 10)]))
def test_parse_number_never_raises_and_stays_on_the_scale(text, scale):
    n = parse_number(text, scale)
    assert n is None or (isinstance(n, int) and scale[0] <= n <= scale[1])


@FAST
@given(st.lists(st.sampled_from(["seven", "out", "of", "ten", "percent", "a", "half", "and", "point",
                                 "hundred", "about", "or", "to", "/", "7", "70", "0", "oh", "twenty",
                                 "five", "minutes", "hour", "an", "couple", "few", "%", "-", "1.5"]),
                max_size=10),
       st.sampled_from([(0, 10), (0, 100)]))
def test_parse_number_on_number_word_salad(words, scale):
    text = " ".join(words)
    n = parse_number(text, scale)
    assert n is None or scale[0] <= n <= scale[1]
    minutes = parse_minutes(text)
    assert minutes is None or (isinstance(minutes, int) and minutes >= 1)


@FAST
@given(st.integers(0, 100), st.sampled_from(["", "a ", "about ", "maybe ", "i'd say ", "um "]),
       st.booleans())
def test_a_spelled_number_reads_back(n, lead, digits):
    text = lead + (str(n) if digits else number_words(n))
    assert parse_number(text, (0, 100)) == n


@FAST
@given(st.integers(0, 10), st.integers(0, 100))
def test_out_of_and_percent_convert_to_the_scale(n, pct):
    assert parse_number(f"{number_words(n)} out of ten", (0, 10)) == n
    assert parse_number(f"{n} out of 10", (0, 100)) == n * 10
    assert parse_number(f"{pct} percent", (0, 10)) == int(pct / 10 + 0.5)


@FAST
@given(st.text(max_size=80))
def test_parse_minutes_never_raises(text):
    m = parse_minutes(text)
    assert m is None or (isinstance(m, int) and m >= 1)


# --------------------------------------------------------------------------------------------
# WAV reader


def _wav(rate: int, samples: np.ndarray) -> bytes:
    return encode_wav(AudioChunk(rate, samples.astype(np.int16)))


def _header(tag: int, channels: int, rate: int, bits: int, data: bytes, fmt_size: int = 16,
            data_size: int | None = None, riff: bytes = b"RIFF", wave: bytes = b"WAVE") -> bytes:
    block = max(1, channels * max(bits, 8) // 8)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    fmt = (fmt + b"\0" * max(0, fmt_size - 16))[:fmt_size]
    size = len(data) if data_size is None else data_size
    body = wave + b"fmt " + struct.pack("<I", fmt_size) + fmt + b"data" + struct.pack("<I", size) + data
    return riff + struct.pack("<I", len(body)) + body


def _decode(data: bytes):
    try:
        return decode_wav(data, "x.wav")
    except AudioError as err:
        msg = str(err)
        assert msg.startswith("x.wav: ") and "\n" not in msg
        return None


@FAST
@given(st.binary(max_size=2000))
def test_wav_reader_on_random_bytes(data):
    chunk = _decode(data)
    assert chunk is None or chunk.frames > 0


@FAST
@given(st.binary(max_size=600))
def test_wav_reader_on_random_bytes_behind_a_riff_header(data):
    chunk = _decode(b"RIFF" + struct.pack("<I", len(data) + 4) + b"WAVE" + data)
    assert chunk is None or chunk.frames > 0


@FAST
@given(tag=st.sampled_from([0, 1, 2, 3, 6, 7, 0xFFFE, 0xFFFF]), channels=st.integers(0, 70000 % 65536),
       rate=st.sampled_from([0, 1, 999, 8000, 16000, 44100, 384001, 2**32 - 1]),
       bits=st.sampled_from([0, 1, 4, 8, 12, 16, 20, 24, 32, 48, 64, 65535]),
       fmt_size=st.sampled_from([0, 2, 15, 16, 18, 26, 40]),
       data=st.binary(max_size=400),
       data_size=st.one_of(st.none(), st.sampled_from([0, 1, 3, 0xFFFFFFFF, 0x7FFFFFFF])))
def test_wav_reader_on_corrupt_headers(tag, channels, rate, bits, fmt_size, data, data_size):
    chunk = _decode(_header(tag, channels, rate, bits, data, fmt_size, data_size))
    if chunk is not None:
        assert chunk.frames > 0 and chunk.samples.dtype == np.int16
        assert 1000 <= chunk.rate <= 384000


@FAST
@given(st.integers(1, 2000), st.sampled_from([8000, 16000, 22050, 48000]), st.data())
def test_wav_reader_on_a_valid_file_with_bytes_flipped_or_cut(n, rate, data):
    rng = np.random.default_rng(n)
    raw = bytearray(_wav(rate, rng.integers(-32768, 32767, n)))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, min(len(raw) - 1, 60)))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    _decode(bytes(raw[:cut]))


@FAST
@given(st.integers(1, 3000), st.sampled_from([8000, 16000, 22050, 44100]), st.integers(1, 2))
def test_wav_writer_and_reader_round_trip(n, rate, channels):
    rng = np.random.default_rng(n)
    samples = rng.integers(-32768, 32767, (n, channels) if channels > 1 else n).astype(np.int16)
    chunk = decode_wav(_wav(rate, samples))
    assert chunk.rate == rate and np.array_equal(chunk.samples, samples)


@SLOW
@given(st.binary(max_size=300))
def test_read_wav_on_a_file_of_random_bytes(tmp_path_factory, data):
    path: Path = tmp_path_factory.mktemp("wav") / "random.wav"
    path.write_bytes(data)
    try:
        chunk = read_wav(path)
    except AudioError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
    else:
        assert chunk.frames > 0

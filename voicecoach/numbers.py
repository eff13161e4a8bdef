"""Numbers in what people say: ratings ("a seven", "seven out of ten", "70 percent", "about eighty")
and durations ("ten minutes", "half an hour"), spoken or typed."""

from __future__ import annotations

import math
import re

_UNITS = {
    "zero": 0, "oh": 0, "nought": 0, "naught": 0, "nil": 0, "none": 0, "nothing": 0, "nada": 0,
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
# Words a recogniser or a hurried typist produces for a number; only used next to a number cue.
_SPOKEN_ALIASES = {"won": "one", "tree": "three", "ate": "eight", "tin": "ten", "fife": "five"}
_WORDS_OF = {v: k for k, v in _UNITS.items() if k not in {"oh", "nought", "naught", "nil", "none",
                                                             "nothing", "nada"}}
_WORDS_OF.update({v: k for k, v in _TENS.items() if k != "fourty"})

_PERCENT = {"percent", "per", "pc", "%"}
_HEDGES = {"about", "around", "roughly", "maybe", "like", "approximately", "say", "probably",
           "almost", "nearly", "least", "most", "a", "an", "its", "it", "is", "im", "i", "would",
           "id", "call", "it's", "i'd", "i'm", "solid", "strong", "high", "low", "sort", "of",
           "kind", "guess", "think", "um", "uh", "er", "erm", "hmm", "well", "so", "okay", "ok",
           "feel", "feels", "feeling", "rate", "rating", "the", "at", "be", "just", "pretty",
           "much", "really", "quite"}

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)?|%|/")


def number_words(n: int) -> str:
    """Spell 0..100 in words ("seventy five"); other values as digits."""
    if n in _WORDS_OF:
        return _WORDS_OF[n]
    if 20 < n < 100:
        return f"{_WORDS_OF[n - n % 10]} {_WORDS_OF[n % 10]}"
    if n == 100:
        return "one hundred"
    return str(n)


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'").replace("-", " ")
    return _TOKEN.findall(text)


def _read_number(tokens: list[str], i: int) -> tuple[float, int] | None:
    """A number starting at tokens[i]: (value, tokens used)."""
    tok = tokens[i]
    if re.fullmatch(r"\d+(?:\.\d+)?", tok):
        value = float(tok)
        used = 1
    elif tok in ("a", "an", "one") and i + 1 < len(tokens) and tokens[i + 1] == "hundred":
        return 100.0, 2
    elif tok == "hundred":
        return 100.0, 1
    elif tok in ("half",):
        return 0.5, 1
    elif tok in _TENS:
        value = float(_TENS[tok])
        used = 1
        if i + 1 < len(tokens) and tokens[i + 1] in _UNITS and 0 < _UNITS[tokens[i + 1]] < 10:
            value += _UNITS[tokens[i + 1]]
            used = 2
    elif tok in _UNITS:
        if tok == "oh" and not (i + 1 < len(tokens) and tokens[i + 1] in ("out", "percent")):
            return None
        value = float(_UNITS[tok])
        used = 1
        if i + 1 < len(tokens) and tokens[i + 1] == "hundred":
            return value * 100, 2
    else:
        return None
    # "seven and a half", "seven point five"
    j = i + used
    if tokens[j : j + 3] == ["and", "a", "half"]:
        return value + 0.5, used + 3
    if j + 1 < len(tokens) and tokens[j] == "point" and tokens[j + 1] in _UNITS:
        return value + _UNITS[tokens[j + 1]] / 10.0, used + 2
    if j < len(tokens) and tokens[j] == "half" and (j == 0 or tokens[j - 1] != "a"):
        return value + 0.5, used + 1
    return value, used


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


def parse_number(text: str, scale: tuple[int, int] = (0, 10)) -> int | None:
    """The number a person gave as a rating on ``scale``, or None.

    "seven", "a seven", "seven out of ten", "70 percent" (7 on 0-10, 70 on 0-100), "about
    eighty", "7", "7/10", "seven and a half" (rounded half up), "none" (0), "a hundred".
    "X out of Y" and percentages are converted to the scale; a plain number outside it is None.
    "six or seven" / "between six and seven" give the rounded middle.
    """
    lo, hi = scale
    tokens = _tokens(text or "")
    if not tokens:
        return None
    found: list[tuple[float, int, int]] = []  # (value, start, used)
    i = 0
    while i < len(tokens):
        got = _read_number(tokens, i)
        if got is None and tokens[i] in _SPOKEN_ALIASES and len(tokens) <= 3:
            got = _read_number([_SPOKEN_ALIASES[tokens[i]]], 0)
        if got is None:
            i += 1
            continue
        value, used = got
        found.append((value, i, used))
        i += used
    if not found:
        return None
    value, start, used = found[0]
    after = tokens[start + used :]
    # "seven out of ten", "7/10"
    of = None
    if len(after) >= 3 and after[0] == "out" and after[1] == "of":
        of = _read_number(after, 2)
    elif len(after) >= 2 and after[0] == "/":
        of = _read_number(after, 1)
    elif len(after) >= 2 and after[0] == "of" and len(found) > 1:
        of = _read_number(after, 1)
    if of is not None and of[0] > 0:
        return _in_scale(value / of[0] * (hi - lo) + lo, scale)
    if after and (after[0] in _PERCENT or after[0].startswith("percent")):
        return _in_scale(value / 100.0 * (hi - lo) + lo, scale)
    # "six or seven", "between six and seven", "six to seven"
    if len(found) > 1:
        v2, s2, _ = found[1]
        between = tokens[start + used : s2]
        if between in (["or"], ["to"], ["and"], ["maybe"], ["or", "maybe"]):
            if 0 <= abs(v2 - value) <= max(3, (hi - lo) * 0.3):
                value = (value + v2) / 2.0
    if not lo <= value <= hi:
        return None
    return _round(value)


def _in_scale(value: float, scale: tuple[int, int]) -> int | None:
    lo, hi = scale
    if not lo - 1e-9 <= value <= hi + 1e-9:
        return None
    return min(hi, max(lo, _round(value)))


_DURATION_UNITS = {
    "second": 1 / 60, "seconds": 1 / 60, "secs": 1 / 60, "sec": 1 / 60,
    "minute": 1, "minutes": 1, "mins": 1, "min": 1, "minuets": 1, "minits": 1,
    "hour": 60, "hours": 60, "hr": 60, "hrs": 60,
}


def parse_minutes(text: str) -> int | None:
    """Minutes named in the text: "give me ten minutes" → 10, "half an hour" → 30, "an hour" → 60,
    "a couple of minutes" → 2, "a few minutes" → 5. None when no duration is named."""
    tokens = _tokens(text or "")
    for i, tok in enumerate(tokens):
        if tok not in _DURATION_UNITS:
            continue
        unit = _DURATION_UNITS[tok]
        before = tokens[max(0, i - 4) : i]
        if before[-2:] in (["half", "an"], ["half", "a"]):
            return _round(unit / 2) or 1
        if before[-1:] in (["an"], ["a"]) and before[-3:-1] != ["a", "couple"]:
            if before[-2:-1] == ["half"]:
                return _round(unit / 2)
            return _round(unit) or 1
        if before[-2:] == ["couple", "of"] or before[-1:] == ["couple"]:
            return _round(2 * unit) or 1
        if before[-1:] in (["few"],) or before[-2:] == ["few", "more"]:
            return _round(5 * unit) or 1
        # the number just before the unit
        for k in range(len(before)):
            got = _read_number(before, k)
            if got is not None and k + got[1] == len(before):
                return _round(got[0] * unit) or 1
        for k in range(len(before) - 1, -1, -1):
            got = _read_number(before, k)
            if got is not None:
                return _round(got[0] * unit) or 1
    return None

"""Words in scripts: counts, answers that mean "pass", items in a list, and answers put into the
coach's sentences."""

from __future__ import annotations

import re
from typing import Any

from voicecoach.script_model import TEXT_REF

COUNT_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
               "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
               "eighteen", "nineteen", "twenty"]


PASS_WORDS = frozenset({"skip", "next", "pass", "move on", "skip it", "skip this", "skip that", "next one",
                        "nothing", "no plan", "i'd rather not", "rather not", "none"})
"""Answers that mean "no answer" to an optional question, or "move on" in a collect step."""


def is_pass(text: str) -> bool:
    t = re.sub(r"[^a-z' ]+", " ", text.lower())
    t = re.sub(r"\b(please|okay|ok|um|uh|just|let's|lets)\b", " ", t)
    return " ".join(t.split()) in PASS_WORDS


def count_items(text: str) -> list[str]:
    """Split an answer like "the lamp my hands and the window" into items.

    Recognised speech has no punctuation, so items are split at "and", commas, and at each
    article or possessive that starts a new noun phrase; lead-ins like "I can see" are dropped.
    Exactness matters less than encouragement: this errs towards counting what was said.
    """
    t = text.lower()
    t = re.sub(r"[^a-z' ,]+", " ", t)
    t = re.sub(r"\b(i can|i could|i do|i)\s+(see|hear|feel|touch|smell|taste|notice)\b", ",", t)
    t = re.sub(r"\b(there'?s|there is|there are|and then|um+|uh+|er+|like|okay|ok|so|also|maybe|some kind of)\b", ",", t)
    t = re.sub(r"\b(and|plus|then)\b", ",", t)
    t = re.sub(r"\b(the|a|an|my|some|this|that|these|those|your|his|her|our|their)\b", r", \1", t)
    stop = {"the", "a", "an", "my", "some", "this", "that", "these", "those", "your", "his", "her",
            "our", "their", "is", "are", "it", "of", "in", "on", "at", "to", "too", "very", "just",
            "next", "yes", "no", "hmm", "well", "what", "um", "uh"}
    items = []
    for part in t.split(","):
        words = [w for w in part.split() if w]
        content = [w for w in words if w not in stop]
        if not content:
            continue
        if words[0] in stop or len(content) <= 2:
            items.append(" ".join(words))
        else:
            # A bare list of nouns ("lamp window door"): one item per word.
            items.extend(content)
    return items


def compare(a: Any, op: str, b: Any) -> bool:
    """A ``when: "a < b"`` test; False when either side is missing or not a number."""
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]


_PLAIN_STARTS = frozenset({"when", "because", "the", "my", "he", "she", "they", "it", "we", "you", "a", "an",
                           "that", "this", "to", "being", "not", "feeling", "just", "like", "maybe", "if",
                           "his", "her", "their", "our", "your", "since", "after", "before", "anxious",
                           "sad", "hurt", "lonely", "scared", "angry", "worried", "ignored", "nobody",
                           "everyone", "someone", "having", "getting", "knowing", "for", "so", "and"})


def _fit_after(before: str, value: str) -> str:
    """An answer put into a sentence: words it repeats from just before its place are dropped
    ("when {situation}" + "When you didn't reply" -> "you didn't reply"), a capital that started
    the answer is lowered mid-sentence, and a closing full stop goes."""
    words = value.split()
    lead = re.findall(r"[A-Za-z']+", before)[-3:]
    for n in range(min(len(lead), len(words)), 0, -1):
        tail = [w.lower() for w in lead[-n:]]
        head = [re.sub(r"[^a-z']", "", w.lower()) for w in words[:n]]
        if tail == head:
            words = words[n:]
            break
    out = " ".join(words).rstrip(" .!")
    first = out.split(" ", 1)[0]
    if before.strip() and not before.rstrip().endswith((".", "!", "?")) and first.lower() in _PLAIN_STARTS \
            and first[:1].isupper():
        out = out[0].lower() + out[1:]
    return out


def fill(text: str, values: dict[str, Any]) -> str:
    """Put answers and parameters into ``{name}`` places; a missing one is left out."""

    def sub(m: re.Match) -> str:
        v = values.get(m.group(1))
        if v is None:
            return ""
        if isinstance(v, (list, tuple)):
            return ", ".join(str(x) for x in v)
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, str):
            return _fit_after(text[: m.start()], v)
        return str(v)

    out = TEXT_REF.sub(sub, text)
    return re.sub(r"\s{2,}", " ", re.sub(r"\s+([,.;:!?])", r"\1", out)).strip()

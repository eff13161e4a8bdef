"""Text normalising, once for the whole package: lower-case words, one spelling of contractions,
digits as words.

- :func:`normalize` — the intent matcher, the crisis screen and the answer reader read text
  through it: contractions in their short form without the apostrophe ("i'm" → "im").
- :func:`spell_out` — contractions spelled out ("he's" → "he is"): the thinking-trap rules
  (``patterns.yaml``) are written in this form.
- :func:`written` — the other way, as a recogniser that writes contractions writes them
  ("i am" → "i'm"): the phrases whisper rescores.
- :func:`with_apostrophes` — the short form with its apostrophes back ("youre" → "you're"):
  the command forms whisper scores.

The contractions of the last three are one table, :data:`CONTRACTED`.
"""

from __future__ import annotations

import re

from voicecoach.numbers import number_words

CONTRACTIONS = [
    # applied on whole words after apostrophes are removed; templates go through the same table
    ("i am", "im"), ("cannot", "cant"), ("can not", "cant"), ("do not", "dont"),
    ("does not", "doesnt"), ("did not", "didnt"), ("is not", "isnt"), ("are not", "arent"),
    ("will not", "wont"), ("would not", "wouldnt"), ("could not", "couldnt"),
    ("should not", "shouldnt"), ("have not", "havent"), ("has not", "hasnt"), ("was not", "wasnt"),
    ("i have", "ive"), ("i would", "id"), ("i will", "ill"), ("wanna", "want to"),
    ("gonna", "going to"), ("gotta", "got to"), ("lemme", "let me"), ("gimme", "give me"),
    ("kinda", "kind of"), ("sorta", "sort of"), ("cuz", "because"), ("cause", "because"),
    ("coz", "because"), ("ok", "okay"), ("okey", "okay"), ("let us", "lets"), ("it is", "its"),
    ("that is", "thats"), ("what is", "whats"), ("he is", "hes"), ("she is", "shes"),
    ("they are", "theyre"), ("you are", "youre"), ("there is", "theres"), ("he has", "hes"),
    ("she has", "shes"), ("dunno", "dont know"), ("ima", "im going to"), ("imma", "im going to"),
    ("im gonna", "im going to"), ("u", "you"), ("ur", "your"), ("pls", "please"),
    ("plz", "please"), ("thx", "thanks"), ("tho", "though"), ("til", "until"), ("till", "until"),
    ("bf", "boyfriend"), ("gf", "girlfriend"), ("alright", "all right"), ("allright", "all right"),
    ("my self", "myself"), ("cant not", "cant"), ("wont be", "wont be"), ("uh huh", "uhhuh"),
    ("mm hmm", "mhm"), ("mhmm", "mhm"), ("uh uh", "no"),
]
_CONTRACTION_RE = [
    (a, re.compile(r"(?<![a-z0-9])" + re.escape(a) + r"(?![a-z0-9])"), b) for a, b in CONTRACTIONS
]
_DIGIT_SEQUENCES = {"478": "four seven eight", "54321": "five four three two one"}


def normalize(text: str) -> str:
    """Lower-case words without punctuation, contractions and digits in one spelling.

    "I'm NOT okay!!" → "im not okay"; "4-7-8" → "four seven eight"; "10" → "ten".
    """
    text = (text or "").lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = text.replace("%", " percent ").replace("&", " and ")
    text = re.sub(r"(?<=[a-z])'(?=[a-z])", "", text)
    text = re.sub(r"(\d)[-/](?=\d)", r"\1 ", text)
    text = re.sub(r"(\d+)\.(\d+)", r"\1 point \2", text)
    text = re.sub(r"[^a-z0-9\s]", " ", text)
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text)
    words = []
    for tok in text.split():
        if tok.isdigit():
            if tok in _DIGIT_SEQUENCES:
                words.append(_DIGIT_SEQUENCES[tok])
            elif int(tok) <= 100:
                words.append(number_words(int(tok)))
            else:
                words.append(" ".join(number_words(int(d)) for d in tok))
        else:
            words.append(tok)
    text = " ".join(words)
    for plain, rx, repl in _CONTRACTION_RE:
        if plain in text:  # a substring test first: most rules do not apply
            text = rx.sub(repl, text)
    return " ".join(text.split())


def _contracted() -> list[tuple[str, str, bool]]:
    """(written form, spelled out, heard without its apostrophe too): a recogniser often drops
    the apostrophe ("hes", "dont"); where the bare form is another word ("well", "were", "id"),
    only the written form counts."""
    t = [("can't", "cannot", True), ("won't", "will not", True), ("shan't", "shall not", True),
         ("ain't", "is not", True), ("i'm", "i am", True)]
    t += [(f"{w}'s", f"{w} is", True) for w in ("he", "she", "it", "that", "there", "what", "who", "everyone",
                                                 "everything", "nobody", "someone")]
    t += [(f"{w}'re", f"{w} are", w == "they") for w in ("you", "we", "they")]
    t += [(f"{w}'ll", f"{w} will", False) for w in ("i", "you", "we", "they", "he", "she")]
    t += [(f"{w}'ve", f"{w} have", False) for w in ("i", "you", "we", "they")]
    t += [(f"{w}'d", f"{w} would", False) for w in ("i", "you", "we", "they", "he", "she")]
    t += [(f"{w}n't", f"{w} not", True) for w in ("do", "does", "did", "is", "are", "was", "were", "has", "have",
                                                   "had", "would", "could", "should", "must", "need")]
    return t


CONTRACTED = _contracted()
_SPELL_OUT = [(re.compile(r"\bcan ?not\b"), "cannot"), (re.compile(r"\bgonna\b"), "going to"),
              (re.compile(r"\bwanna\b"), "want to"), (re.compile(r"\bgotta\b"), "got to")]
_SPELL_OUT += [(re.compile(r"\b" + re.escape(w).replace("'", "'?" if bare else "'") + r"\b"), s)
               for w, s, bare in CONTRACTED]
WRITTEN_BY_RECOGNISERS = ("i have", "i am", "do not", "cannot", "i will", "i would", "it is")
"""The spelled-out forms whisper writes contracted."""
_WRITTEN = [(re.compile(r"\bcan not\b"), "can't")]
_WRITTEN += [(re.compile(r"\b" + re.escape(s) + r"\b"), w) for w, s, _ in CONTRACTED if s in WRITTEN_BY_RECOGNISERS]


_BARE_WORDS = frozenset({"were", "well", "hell", "shell", "wed", "shed"})
"""Contractions without their apostrophe that are words of their own: left as they are."""
_APOSTROPHES = {w.replace("'", ""): w for w, _, _ in CONTRACTED if w.replace("'", "") not in _BARE_WORDS}
_APOSTROPHES["lets"] = "let's"


def with_apostrophes(text: str) -> str:
    """Text in the matcher's short form (:func:`normalize`: "youre", "thats") with the
    apostrophes a recogniser writes ("you're", "that's"): command forms whisper scores."""
    return " ".join(_APOSTROPHES.get(w, w) for w in text.split())


def spell_out(text: str) -> str:
    """Lower case, apostrophes unified, contractions spelled out, punctuation removed.

    "He's gonna leave, isn't he?" → "he is going to leave is not he".
    """
    t = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    t = re.sub(r"\s+", " ", t).strip()
    for rx, repl in _SPELL_OUT:
        t = rx.sub(repl, t)
    t = t.replace("'", "")
    return re.sub(r"\s+", " ", t).strip()


def written(text: str) -> str:
    """A phrase as whisper would write it: contractions, a capital first letter ("i am ok" →
    "I'm ok")."""
    t = " ".join(text.lower().split())
    for rx, repl in _WRITTEN:
        t = rx.sub(repl, t)
    return t[:1].upper() + t[1:]

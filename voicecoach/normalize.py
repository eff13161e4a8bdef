"""Text normalising, once for the whole package: lower-case words, one spelling of contractions,
digits as words. The intent matcher, the crisis screen and the answer reader all read text
through :func:`normalize`, so a contraction is never spelled two ways in two places."""

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

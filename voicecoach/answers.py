"""Reading an answer in the context of the question that was asked.

Every question declares what it asks (``expects`` in a script step, or the coach's own safety
questions), and one reader turns what the person said into a reading for that kind of question:

==============  =====================================  ======================================
expects         readings                               an unclear answer is read as
==============  =====================================  ======================================
``yes_no``      ``yes`` ``no`` ``unclear``             ``unclear`` (the coach asks again)
``safety``      ``safe`` ``unsafe`` ``unsure``         ``unsure``, handled as **unsafe**
``risk``        ``yes`` ``no`` ``unsure``              ``unsure``, handled as **yes**
``kind_words``  ``kind`` ``unkind`` ``unsure``         ``unsure``
``free_text``   ``content`` ``no_content``             ``content``
``rating``      ``rating`` ``no_content``              ``no_content`` (asks for a number)
``choice``      the option chosen, or ``unclear``      ``unclear``
==============  =====================================  ======================================

``safety`` asks "are you safe?" (yes is the good answer); ``risk`` asks "are you thinking about
ending your life?" (yes is the dangerous one). For both, a hedge ("maybe", "sort of"), a
don't-know, a question back, sarcasm ("yeah right") or a mix of yes and no is not a clear
answer, and safety is never assumed from an unclear one. A bare, casual "yeah" to "are you safe?"
is not taken as a clear yes either: spoken, it is as often a filler as an answer.

Negation is read in scope: "not safe", "I'm not okay", "no longer safe" are negative; "I'm safe,
I just wasn't last night" is positive, because the negation does not govern the safety word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from voicecoach.normalize import normalize


class Expects(str, Enum):
    """What a question asks for."""

    YES_NO = "yes_no"
    SAFETY = "safety"
    RISK = "risk"
    KIND_WORDS = "kind_words"
    FREE_TEXT = "free_text"
    RATING = "rating"
    CHOICE = "choice"


READINGS: dict[str, tuple[str, ...]] = {
    "yes_no": ("yes", "no", "unclear"),
    "safety": ("safe", "unsafe", "unsure"),
    "risk": ("yes", "no", "unsure"),
    "kind_words": ("kind", "unkind", "unsure"),
    "free_text": ("content", "no_content"),
    "rating": ("rating", "no_content"),
    "choice": ("unclear",),
}
"""Every kind of question and the readings its answers can have (scripts name them in
``replies`` and ``again``)."""


@dataclass(frozen=True)
class Reading:
    """How one answer reads for the question asked."""

    value: str
    """yes / no / unclear, safe / unsafe / unsure, kind / unkind / unsure, content / no_content."""
    clear: bool
    """False when the answer did not settle the question (a hedge, a don't-know, a question back)."""
    why: str = ""
    """The words that decided it, for the debug log and tests."""


def _rx(words: list[str] | tuple[str, ...]) -> re.Pattern[str]:
    alts = sorted({" ".join(w.split()) for w in words}, key=len, reverse=True)
    return re.compile(r"(?<![a-z])(?:" + "|".join(re.escape(a).replace(r"\ ", r"\s+") for a in alts) + r")(?![a-z])")


# Text is normalised first (voicecoach.normalize): "I'm" -> "im", "don't" -> "dont", "ok" -> "okay".
_YES = _rx(["yes", "yeah", "yea", "yep", "yup", "ya", "sure", "okay", "all right", "definitely",
            "absolutely", "of course", "certainly", "correct", "thats right", "uhhuh", "mhm",
            "please", "go ahead", "lets do it", "lets do that", "sounds good", "id like that",
            "i would like that", "why not", "i do", "i will", "i can", "ill try", "i would", "id love to",
            "that would help", "yes please", "please do", "go on", "do it", "lets go", "fine", "go for it",
            "sounds nice", "that sounds nice", "sounds great", "that would be nice", "id love that",
            "love to", "i would love", "lets try", "lets try it", "ill give it a go", "give it a go",
            "why not", "ok then", "okay then", "alright then", "i think i will", "i want to", "id like to",
            "i would like to", "count me in", "ready"])
_FORMAL_YES = _rx(["yes", "yes i am", "im", "i am", "yes im", "i do", "yes i do", "correct", "absolutely",
                   "definitely", "of course"])
_CASUAL_YES = _rx(["yeah", "yea", "yep", "yup", "ya", "uhhuh", "mhm", "sure", "okay", "all right",
                   "i think so", "fine", "i guess so"])
_NO = _rx(["no", "not", "nope", "nah", "not really", "not at all", "never", "no thanks", "no thank you",
           "id rather not", "i would rather not", "rather not", "not now", "not right now", "not tonight",
           "not today", "not at the moment", "dont want to", "i dont", "im not", "i am not", "i wont",
           "i cant", "negative", "not yet", "no way", "nothing", "no need", "im good", "maybe later",
           "another time", "not for me", "pass", "no i dont", "i dont think so", "absolutely not",
           "definitely not", "of course not", "god no", "hell no", "not in the slightest", "nah im good",
           "not interested", "leave it", "skip it", "skip", "dont bother", "id rather", "i would rather",
           "not even a little", "not one bit", "not in the least", "no not really", "nah not really",
           "i dont want to", "i dont think i want"])
_HEDGE = _rx(["maybe", "perhaps", "sort of", "kind of", "a little", "a bit", "a little bit", "somewhat",
              "i guess", "i suppose", "probably", "possibly", "sometimes", "not sure", "im not sure",
              "unsure", "dont know", "i dont know", "idk", "no idea", "hard to say", "mostly", "partly",
              "more or less", "ish", "depends", "it depends", "sometimes", "on and off", "ish", "i think",
              "not exactly", "not completely", "not totally", "not entirely", "not fully", "a little",
              "somewhat", "halfway", "half", "in a way", "kinda", "sorta", "hmm", "um", "uh", "eh", "meh",
              "i cant say", "cant tell", "who knows", "im not certain", "not certain", "barely",
              "for now", "right now i am", "i hope so", "i think so", "hopefully", "i mean",
              "i dunno", "not really sure", "i have no idea", "no clue", "cant decide", "on the fence",
              "yes and no", "yeah no", "no yeah", "both", "either", "whatever", "does it matter"])
_SARCASM = _rx(["yeah right", "oh sure", "sure sure", "as if", "yeah yeah", "totally fine not",
                "oh great", "oh yeah totally", "what do you think", "like you care", "great just great",
                "never better", "sure whatever", "fine whatever", "just peachy", "couldnt be better"])
_QUESTION_BACK = re.compile(r"^(why|what|how|who|where|when|which|do you|does it|is it|are you|can you|"
                            r"could you|would you|whats|hows)\b")
# Words that state safety, and the negations that may govern them (up to three words before).
_SAFE_WORDS = _rx(["safe", "okay", "all right", "fine", "good", "better", "alright", "ok",
                   "not in danger", "out of danger", "no danger", "not going to do anything",
                   "not going to hurt myself", "wont hurt myself", "wont do anything", "calm", "calmer",
                   "settled", "stable", "secure", "doing better", "doing okay", "doing fine",
                   "not going to act", "no plans to"])
_UNSAFE_WORDS = _rx(["unsafe", "in danger", "danger", "not safe", "scared of myself", "scared ill",
                     "afraid ill", "might do something", "might hurt myself", "could hurt myself",
                     "going to hurt myself", "going to do something", "worse", "not okay", "not fine",
                     "not all right", "not good", "struggling", "help me"])
_NEGATORS = {"not", "no", "never", "isnt", "arent", "wasnt", "dont", "doesnt", "didnt", "cant", "wont",
             "hardly", "barely", "nowhere", "nothing", "neither", "nor", "without", "longer"}
_SAFE_SCOPE = 3
# Free text with no content.
_NO_CONTENT = _rx(["i dont know", "dont know", "idk", "no idea", "nothing", "not sure", "im not sure",
                   "i cant think of anything", "cant think of anything", "cant think", "i cant think",
                   "nothing comes to mind", "nothing really", "none", "no clue", "i have no idea",
                   "pass", "skip", "next", "i dunno", "dunno", "no", "nope", "not really", "i guess not",
                   "i cant", "i dont have any", "there isnt any", "there is none", "theres nothing",
                   "there isnt", "nothing i can think of", "i dont know what to say", "no evidence",
                   "hmm", "um", "uh", "i dont remember", "i cant remember", "blank", "im blank",
                   "my mind is blank", "i have nothing", "ive got nothing", "got nothing", "not much",
                   "i dont have one", "no answer", "whatever", "nah", "nothing comes to me",
                   "nothing comes to mind", "i cant think what id say", "i cant think what to say",
                   "i dont know what id say", "i dont know what youd say to that", "i dont know what to say",
                   "i dont know what id tell them", "no idea what id say", "im drawing a blank",
                   "i really dont know", "honestly no idea", "not a clue", "i couldnt tell you"])
_FILLER = re.compile(r"(?<![a-z])(?:um+|uh+|er+|erm|hmm+|well|so|honestly|i mean|you know|okay so|actually|"
                     r"basically)(?![a-z])")
_DONT_KNOW = re.compile(r"(?<![a-z])(dont know|not (really |totally |completely |entirely |quite )?sure|no idea|dunno|"
                        r"idk|cant say|who knows|im not certain|not certain|hard to say|no clue|cant tell|"
                        r"dont want to (talk|say|answer|get into)|(rather|prefer) not (to )?(say|talk|answer)|"
                        r"not telling|none of your business|dont ask|leave it|whatever)(?![a-z])")
# Words to a friend: a critic's voice, and a kind one.
_UNKIND = _rx(["stop being", "so dramatic", "dramatic", "get over it", "get over yourself", "man up",
               "toughen up", "grow up", "suck it up", "pathetic", "stupid", "idiot", "dumb", "loser",
               "weak", "your fault", "its your own fault", "you deserve it", "you deserved it",
               "overreacting", "shut up", "nobody cares", "no one cares", "whats wrong with you",
               "quit whining", "stop whining", "stop complaining", "deal with it", "snap out of it",
               "too sensitive", "so needy", "needy", "clingy", "ridiculous", "embarrassing", "useless",
               "worthless", "failure", "get a grip", "pull yourself together", "cry baby", "crybaby",
               "be quiet", "harden up", "stop crying", "nobody wants", "no one wants", "annoying",
               "you always", "you never", "stop it", "get real", "wake up", "move on already",
               "your problem", "serves you right", "who cares", "big deal", "so what", "drama queen",
               "attention seeking", "attention seeker", "its not a big deal", "stop overthinking",
               "you brought it on", "nobody likes", "ugly", "hate you", "disgusting", "lazy",
               "stop being", "stop feeling", "stop acting", "stop making", "stop moaning", "feeling sorry for",
               "self pity", "pity party", "get it together", "nobody wants to hear", "no one wants to hear",
               "too much", "a mess", "you should know better", "should have known", "thats on you"])
_KIND = _rx(["its okay", "its all right", "thats okay", "its understandable", "understandable",
             "makes sense", "that makes sense", "youre not alone", "not alone", "you matter", "youre doing",
             "doing your best", "doing the best", "be gentle", "be kind", "im here", "i am here",
             "i love you", "proud", "youre enough", "you are enough", "not your fault", "youre worth",
             "worthy", "deserve love", "deserve kindness", "deserve to be", "it will be okay",
             "itll be okay", "itll be all right", "going to be okay", "gonna be okay", "hug", "i understand",
             "take care", "take your time", "youre allowed", "allowed to feel", "valid", "normal to feel",
             "youre human", "it happens", "youre loved", "you are loved", "care about you",
             "you did well", "well done", "youre strong", "so strong", "brave", "youre kind", "youre safe",
             "you can do", "you got this", "youve got this", "its not the end", "take a breath", "get some rest",
             "forgive yourself", "youre human", "go easy", "dont be so hard", "not so hard on yourself",
             "look after yourself", "i believe in you", "youre good", "youre a good", "i see you",
             "you tried", "it wasnt", "im sorry", "sorry youre", "of course you feel", "no wonder",
             "its hard", "that sounds hard", "that must be hard", "this will pass", "it will pass",
             "one step at a time", "youre learning", "youre okay", "you are okay", "you are not"])


def _clean(text: str) -> str:
    """Normalised words; clauses (split at punctuation and "but") are kept apart by " | " so a
    negation cannot reach across them. Filler words go."""
    clauses = []
    for part in re.split(r"[,.;:!?\u2014]+|\s-\s|(?<![a-z])but(?![a-z])", text or ""):
        norm = normalize(part)
        words = _FILLER.sub(" ", norm).split() or norm.split()
        if words:
            clauses.append(" ".join(words))
    return " | ".join(clauses)


def _words(clean: str) -> str:
    """``clean`` without clause marks, for whole-answer phrase tests."""
    return " ".join(clean.replace(" | ", " ").split())


def _negated(words: list[str], start: int) -> bool:
    """True when a negator sits in the few words before position ``start``."""
    lo = max(0, start - _SAFE_SCOPE)
    return any(w in _NEGATORS or w.endswith("nt") and w in _NEGATORS for w in words[lo:start])


def _scoped_hits(rx: re.Pattern[str], clean: str) -> tuple[int, int]:
    """(plain, negated) counts of ``rx`` matches in ``clean``; a negation governs only words in
    its own clause ("no, I'm safe": the no does not negate safe)."""
    plain = negated = 0
    for clause in clean.split(" | "):
        for m in rx.finditer(clause):
            start_word = len(clause[: m.start()].split())
            if _negated(clause.split(), start_word):
                negated += 1
            else:
                plain += 1
    return plain, negated


def _is_question(text: str, clean: str) -> bool:
    return text.strip().endswith("?") or bool(_QUESTION_BACK.match(clean))


def read_yes_no(text: str) -> Reading:
    """yes, no, or unclear (hedges, don't-knows, questions back, a mix)."""
    clean = _clean(text)
    flat = _words(clean)
    if not clean:
        return Reading("unclear", False, "nothing said")
    if _SARCASM.search(flat):
        return Reading("unclear", False, "sarcasm")
    no = bool(_NO.search(_YES.sub(" ", flat)))
    yes_m = _YES.search(flat)
    yes = bool(yes_m) and not (yes_m and _negated(flat.split(), len(flat[: yes_m.start()].split())))
    hedge = _HEDGE.search(flat)
    if _is_question(text, flat) and not (yes or no):
        return Reading("unclear", False, "a question back")
    if hedge and not (no and not yes and hedge.group(0) in ("i think", "i mean")):
        if no and not yes and hedge.group(0) in ("dont know", "i dont know"):
            return Reading("unclear", False, hedge.group(0))
        return Reading("unclear", False, hedge.group(0))
    if yes and no:
        return Reading("unclear", False, "both yes and no")
    if no:
        return Reading("no", True, "no")
    if yes:
        return Reading("yes", True, yes_m.group(0) if yes_m else "yes")
    return Reading("unclear", False, "no yes or no")


def read_safety(text: str) -> Reading:
    """Asked "are you safe right now?": safe only on a clear statement of safety."""
    clean = _clean(text)
    flat = _words(clean)
    if not clean:
        return Reading("unsure", False, "nothing said")
    words = flat.split()
    if _SARCASM.search(flat):
        return Reading("unsure", False, "sarcasm")
    dont_know = _DONT_KNOW.search(flat)
    if dont_know:
        return Reading("unsure", False, dont_know.group(0))
    if _UNSAFE_WORDS.search(flat):
        m = _UNSAFE_WORDS.search(flat)
        return Reading("unsafe", True, m.group(0) if m else "unsafe")
    safe_plain, safe_neg = _scoped_hits(_SAFE_WORDS, clean)
    if safe_neg:
        return Reading("unsafe", True, "a negated safety word")
    no = _NO.search(_SAFE_WORDS.sub(" ", flat))
    hedge = _HEDGE.search(flat)
    if no and not safe_plain:
        return Reading("unsafe", True, no.group(0))
    if hedge:
        return Reading("unsure", False, hedge.group(0))
    if no and safe_plain:
        return Reading("unsure", False, "both no and a safety word")
    if _is_question(text, flat):
        return Reading("unsure", False, "a question back")
    if safe_plain and _CASUAL_YES.fullmatch(flat):
        return Reading("unsure", False, "a bare acknowledgement")
    if safe_plain:
        return Reading("safe", True, "a safety word")
    formal = _FORMAL_YES.fullmatch(flat)
    if formal or (words and words[0] == "yes" and not _CASUAL_YES.fullmatch(flat)):
        return Reading("safe", True, "yes")
    return Reading("unsure", False, "no clear statement of safety")


def read_risk(text: str) -> Reading:
    """Asked "are you thinking about ending your life?": any admission, even hedged, is yes;
    a clear denial is no; a don't-know or a question back is unsure."""
    clean = _clean(text)
    flat = _words(clean)
    if not clean:
        return Reading("unsure", False, "nothing said")
    if _SARCASM.search(flat):
        return Reading("unsure", False, "sarcasm")
    yes_m = _YES.search(flat)
    no_m = _NO.search(flat)
    hedge = _HEDGE.search(flat)
    dont_know = _DONT_KNOW.search(flat)
    admits = re.search(r"(?<![a-z])(i have been|ive been|i do|i was|thinking about it|sometimes|a bit|"
                       r"a little|kind of|sort of|maybe|i guess|lately|often|all the time|every day|"
                       r"i think about it|crossed my mind|on and off|now and then|im thinking|"
                       r"i am thinking|i keep thinking|cant stop thinking|thought about it|more than usual|"
                       r"more than i (should|used to)|on my mind|a few times|once or twice|every night)(?![a-z])|"
                       r"^(yes )?(i am|im)$", flat)
    if dont_know:
        return Reading("unsure", False, dont_know.group(0))
    safe_plain, safe_neg = _scoped_hits(_SAFE_WORDS, clean)
    if safe_neg or _UNSAFE_WORDS.search(flat):
        return Reading("unsure", False, "not okay")
    if no_m and not (yes_m and yes_m.start() < no_m.start()):
        # "no", "no I'm not", "god no, I'm just sad"; but "no... maybe" is unsure
        if hedge and hedge.group(0) not in ("i think", "i mean"):
            return Reading("unsure", False, "a denial with a hedge")
        return Reading("no", True, no_m.group(0))
    if safe_plain and not admits and (not yes_m or yes_m.group(0) in ("okay", "all right", "fine")):
        return Reading("no", False, "says they are okay")
    if yes_m or admits:
        return Reading("yes", True, (yes_m or admits).group(0))  # type: ignore[union-attr]
    if hedge:
        return Reading("yes", False, hedge.group(0))
    if _is_question(text, flat):
        return Reading("unsure", False, "a question back")
    return Reading("unsure", False, "no clear answer")


def has_content(text: str) -> bool:
    """False for "I don't know", "nothing", "pass" and the like said as the whole answer."""
    clean = _clean(text)
    flat = _words(clean)
    if not clean:
        return False
    m = _NO_CONTENT.fullmatch(flat)
    if m:
        return False
    # "I don't know, nothing really" -> strip the no-content phrases and see what is left
    rest = _NO_CONTENT.sub(" ", flat)
    rest = re.sub(r"(?<![a-z])(i|im|and|or|but|the|a|it|its|to|really|either|maybe|thats|that|what|say|"
                  r"of|any|anything|there|is|honestly|sorry)(?![a-z])", " ", rest)
    return bool(rest.split())


def read_free_text(text: str) -> Reading:
    return Reading("content", True) if has_content(text) else Reading("no_content", False, "no content")


def read_kind_words(text: str) -> Reading:
    """Words for a friend: kind, unkind (the inner critic speaking), or unsure."""
    clean = _clean(text)
    flat = _words(clean)
    if not has_content(text):
        return Reading("unsure", False, "no content")
    unkind_plain, _ = _scoped_hits(_UNKIND, clean)
    kind_plain, kind_neg = _scoped_hits(_KIND, clean)
    if unkind_plain and not kind_plain:
        m = _UNKIND.search(flat)
        return Reading("unkind", True, m.group(0) if m else "unkind")
    if kind_neg and not kind_plain:
        return Reading("unkind", True, "a negated kindness")
    if kind_plain and not unkind_plain:
        return Reading("kind", True, "kind words")
    if kind_plain and unkind_plain:
        return Reading("unsure", False, "kind and unkind words")
    return Reading("kind", False, "no critic's words")


def read_answer(expects: Expects | str, text: str) -> Reading:
    """The reading of ``text`` for a question that ``expects`` this kind of answer."""
    kind = Expects(expects)
    if kind == Expects.YES_NO:
        return read_yes_no(text)
    if kind == Expects.SAFETY:
        return read_safety(text)
    if kind == Expects.RISK:
        return read_risk(text)
    if kind == Expects.KIND_WORDS:
        return read_kind_words(text)
    if kind in (Expects.FREE_TEXT, Expects.RATING):
        return read_free_text(text)
    return read_yes_no(text)  # choice: options decide; this reading only helps yes/no options

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
I just wasn't last night" is positive, because the negation does not govern the safety word; "I'm
not in any danger" is positive, a negated danger word. A safety word said of the future or with a
limit ("I'll be fine", "safe enough") is unsure; an answer that is itself a crisis statement ("I
took the pills") is unsafe, and an admission to the direct question. A denial to the direct
question limited in time or hedged ("not right now", "probably not") is unsure.
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
                            r"could you|would you|whats|hows|do i|must i)\b")
# A request to explain the question asks back wherever it stands: "define safe", "safe from
# what", "depends what you mean by safe". Its safety word is quoted, not stated.
_CLARIFY = re.compile(r"(?<![a-z])(define|definition of|explain|clarify|what do you mean|what does|"
                      r"mean by|meaning of|from what|in what (way|sense)|how do you mean|what counts as|"
                      r"what you mean|whats that mean|what is that supposed to mean|"
                      r"(what|which) (kind|sort|type) of|trick question|whos asking|"
                      r"(how|what|why|who|when)\s*$)(?![a-z])")
# Words that state safety, and the negations that may govern them (up to three words before).
_SAFE_WORDS = _rx(["safe", "okay", "all right", "fine", "good", "alright", "ok",
                   "out of danger", "no danger", "not going to do anything", "not going to hurt myself",
                   "wont hurt myself", "wouldnt hurt myself", "never hurt myself", "wont do anything", "calm",
                   "settled", "stable", "secure", "doing okay", "doing fine",
                   "not going to act", "no plans to", "keep myself safe", "trust myself"])
# A safety word said of the future, or with a limit, does not say the person is safe now:
# "I'll be fine", "safe enough", "as safe as I can be", "I'm trying to be".
_QUALIFIED_SAFE = re.compile(r"(?<![a-z])(?:(?:ill|i will|im going to|im gonna|i should|should) be|"
                             r"(?:safe|okay|fine|good|all right|alright) enough|as (?:safe|okay|fine|good) as|"
                             r"trying to be|getting there|safe ish|okay ish|fine ish|safe for now|"
                             r"okay for now|fine for now|i will be|for the moment|depends)(?![a-z])")
_UNSAFE_WORDS = _rx(["unsafe", "in danger", "danger", "not safe", "scared of myself", "scared ill",
                     "afraid ill", "might do something", "might hurt myself", "could hurt myself",
                     "going to hurt myself", "going to do something", "worse", "not okay", "not fine",
                     "not all right", "not good", "struggling", "help me", "what i might do",
                     "what ill do", "still have", "still got",
                     "still thinking", "still want", "still planning", "still feel like", "on my way",
                     "bad", "really bad", "need help", "cant promise", "wont promise", "alone with"])
_ANSWER_WORDS = {"no", "nope", "nah"}
"""Said first, these answer the question; they do not negate the danger word after them
("no, I'm struggling" is not a denial of struggling)."""
# An answer that is itself a crisis statement ("I took some pills") is the unsafe answer to
# "are you safe?" and an admission to "are you thinking about ending your life?", unless a
# negation governs it in its own clause ("no, I wouldn't hurt myself").
_NEGATORS = {"not", "no", "never", "isnt", "arent", "wasnt", "dont", "doesnt", "didnt", "cant", "wont",
             "wouldnt", "couldnt", "shouldnt", "havent", "hasnt", "aint", "nope", "nah",
             "hardly", "barely", "nowhere", "nothing", "neither", "nor", "without", "longer"}
_POLITE = re.compile(r"(?<![a-z])(?:thank you|thanks|thanks for asking|for asking|for checking|"
                     r"for checking on me|i promise|honestly|really|promise)(?![a-z])")
_NOISE = re.compile(r"^(?:(?:hmm+|um+|uh+|er+|erm|eh|mm+|ah+|oh)\s*)+$")
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
_DONT_KNOW = re.compile(r"(?<![a-z])(dont (really |even )?know|not (really |totally |completely |entirely |quite )?sure|no idea|dunno|"
                        r"idk|cant say|who knows|im not certain|not certain|hard to say|no clue|cant tell|"
                        r"dont want to (talk|say|answer|get into|go there)|(rather|prefer) not (to )?(say|talk|answer|get into|go there)|"
                        r"not telling|none of your business|dont ask|leave it|whatever|"
                        # a refusal to answer is not an answer: "can we not go there", "let's move on"
                        r"(can we|could we|lets|let us) (not|skip|move on|change|talk about something)|"
                        r"skip (this|that|the question|it)|next question|change the subject|"
                        r"something else|move on|(do|must) i (have to|need to) answer|ask me later|"
                        r"^(skip|pass)( please)?$|pass on (it|this|that)|"
                        r"(not|dont|wont|never) (going to |gonna |want to |wanna )?(answer|discuss|share)|"
                        r"not (something|anything) i (want|wanna|need) to)(?![a-z])")
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
    text = re.sub(r"(?i)\b(?:uh[ -]huh|mm[ -]hmm)\b", "uhhuh", text or "")
    for part in re.split(r"[,.;:!?\u2014]+|\s-\s|(?<![a-z])but(?![a-z])", text or ""):
        norm = normalize(part)
        words = _FILLER.sub(" ", norm).split() or norm.split()
        if words:
            clauses.append(" ".join(words))
    return " | ".join(clauses)


def _words(clean: str) -> str:
    """``clean`` without clause marks, for whole-answer phrase tests."""
    return " ".join(clean.replace(" | ", " ").split())


def _negated(words: list[str], start: int, negators: set[str] | frozenset[str] = frozenset()) -> bool:
    """True when a negator sits in the few words before position ``start``."""
    lo = max(0, start - _SAFE_SCOPE)
    return any(w in (negators or _NEGATORS) for w in words[lo:start])


def _scoped_hits(rx: re.Pattern[str], clean: str, negators: set[str] | frozenset[str] = frozenset()
                 ) -> tuple[int, int]:
    """(plain, negated) counts of ``rx`` matches in ``clean``; a negation governs only words in
    its own clause ("no, I'm safe": the no does not negate safe)."""
    plain = negated = 0
    for clause in clean.split(" | "):
        for m in rx.finditer(clause):
            start_word = len(clause[: m.start()].split())
            if _negated(clause.split(), start_word, negators):
                negated += 1
            else:
                plain += 1
    return plain, negated


def _is_question(text: str, clean: str) -> bool:
    return text.strip().endswith("?") or bool(_QUESTION_BACK.match(clean) or _CLARIFY.search(clean))


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


def _crisis_clause(clean: str) -> str | None:
    """The first clause that is itself a crisis statement, or one the screen would ask about, with
    no negation in it ("I took some pills", "I cut again"); None when there is none ("no, I
    wouldn't hurt myself")."""
    from voicecoach.crisis import screen

    for clause in clean.split(" | "):
        if any(w in _NEGATORS for w in clause.split()):
            continue
        found = screen(clause)
        if found.is_crisis or found.ask_directly:
            return found.matched or clause
    return None


def read_safety(text: str) -> Reading:
    """Asked "are you safe right now?": safe only on a clear statement of safety now. A danger
    word that is negated ("I'm not in any danger") states safety; a safety word that is negated,
    qualified ("safe enough") or said of the future ("I'll be fine") does not."""
    clean = _clean(text)
    flat = _words(clean)
    if not clean:
        return Reading("unsure", False, "nothing said")
    if _NOISE.fullmatch(flat) and not _YES.fullmatch(flat):
        return Reading("unsure", False, "no words")
    if flat == "help":
        return Reading("unsafe", True, "help")
    if _SARCASM.search(flat):
        return Reading("unsure", False, "sarcasm")
    crisis = _crisis_clause(clean)
    if crisis:
        return Reading("unsafe", True, crisis)
    # safety phrases first ("out of danger"), then danger words, each read in its clause
    unsafe_plain, unsafe_neg = _scoped_hits(_UNSAFE_WORDS, " | ".join(
        _SAFE_WORDS.sub(" ", c) for c in clean.split(" | ")), _NEGATORS - _ANSWER_WORDS)
    safe_plain, safe_neg = _scoped_hits(_SAFE_WORDS, clean)
    if unsafe_plain and not (safe_plain or unsafe_neg):
        m = _UNSAFE_WORDS.search(flat)
        return Reading("unsafe", True, m.group(0) if m else "unsafe")
    dont_know = _DONT_KNOW.search(flat)
    if dont_know:
        return Reading("unsure", False, dont_know.group(0))
    if unsafe_plain:
        return Reading("unsure", False, "both safe and unsafe words")
    if safe_neg:
        if unsafe_neg:
            return Reading("unsure", False, "a negated safety word and a negated danger word")
        return Reading("unsafe", True, "a negated safety word")
    qualified = _QUALIFIED_SAFE.search(flat)
    if qualified:
        return Reading("unsure", False, qualified.group(0))
    stated = safe_plain + unsafe_neg  # "I'm safe", "I'm not in any danger"
    no = _NO.search(_SAFE_WORDS.sub(" ", _UNSAFE_WORDS.sub(" ", flat)))
    denies_danger = any(w in _NEGATORS for m in _SAFE_WORDS.finditer(flat) for w in m.group(0).split())
    if unsafe_neg or denies_danger:
        no = None  # "no, I won't hurt myself": the no belongs to the danger it denies
    hedge = _HEDGE.search(flat)
    if no and not stated:
        return Reading("unsafe", True, no.group(0))
    if hedge:
        return Reading("unsure", False, hedge.group(0))
    if no and stated:
        return Reading("unsure", False, "both no and a safety word")
    if _is_question(text, flat):
        return Reading("unsure", False, "a question back")
    if safe_plain and not unsafe_neg and _CASUAL_YES.fullmatch(flat):
        return Reading("unsure", False, "a bare acknowledgement")
    if stated:
        return Reading("safe", True, "a safety word")
    words = flat.split()
    polite = " ".join(_POLITE.sub(" ", flat).split())
    formal = (_FORMAL_YES.fullmatch(flat) or (polite and _FORMAL_YES.fullmatch(polite))
              or (len(words) > 1 and words[-1] == "yes" and _FORMAL_YES.fullmatch(" ".join(words[:-1]))))
    if formal or (words and words[0] == "yes" and not _CASUAL_YES.fullmatch(flat)):
        return Reading("safe", True, "yes")
    return Reading("unsure", False, "no clear statement of safety")


_ADMITS = re.compile(
    r"(?<![a-z])(i have been|ive been|i do|i was|thinking about it|sometimes|a bit|a little|kind of|"
    r"sort of|maybe|i guess|lately|often|all the time|every day|i think about it|crossed my mind|"
    r"on and off|now and then|im thinking|i am thinking|i keep thinking|cant stop thinking|"
    r"thought about|more than usual|more than id like|more than i (should|used to|would like)|on my mind|"
    r"a few times|once or twice|every night|the thought|the thoughts|a plan|my plan|looking up|"
    r"ways to|hurting myself|hurt myself|want to die|dont want to be (alive|here)|want it (all )?to end|"
    r"end it|scared that i am|i am|im)(?![a-z])")
"""An admission, even hedged: any of these in an answer to the direct question is a yes."""
_WEAK_ADMITS = {"im", "i am", "i was", "i do", "ive been", "i have been", "maybe", "i guess", "kind of",
                "sort of", "a bit", "a little"}
"""Admissions a leading no outweighs ("no, I was talking about my job", "no... maybe" is unsure)."""
_QUALIFIED_NO = re.compile(
    r"(?<![a-z])(not really|dont think so|i dont think|probably not|not (right )?now|not at the (moment|minute)|"
    r"not today|not tonight|not anymore|not any more|not at this point|not as much|not so much|"
    r"(wouldnt|wont|not going to) do anything|(wouldnt|wont|not going to|never) act|act on it|"
    r"do anything about it|not sure)(?![a-z])")
"""A denial limited in time, hedged, or of the act rather than the thought: not a clear no."""


def read_risk(text: str) -> Reading:
    """Asked "are you thinking about ending your life?": any admission, even hedged, is yes;
    only a plain denial is no; a hedged or time-limited denial ("not right now", "probably not"),
    a denial of the act rather than the thought ("I wouldn't do anything"), a bare "I'm fine", a
    don't-know or a question back is unsure."""
    clean = _clean(text)
    flat = _words(clean)
    if not clean:
        return Reading("unsure", False, "nothing said")
    if _NOISE.fullmatch(flat) and not _YES.fullmatch(flat):
        return Reading("unsure", False, "no words")
    if _SARCASM.search(flat):
        return Reading("unsure", False, "sarcasm")
    crisis = _crisis_clause(clean)
    if crisis:
        return Reading("yes", True, crisis)
    dont_know = _DONT_KNOW.search(flat)
    if dont_know:
        return Reading("unsure", False, dont_know.group(0))
    qualified = _QUALIFIED_NO.search(flat)
    if qualified:
        return Reading("unsure", False, qualified.group(0))
    # admissions are read in clauses a negation does not govern ("not ending it, but hurting myself")
    admits = strong = None
    for clause in clean.split(" | "):
        for m in _ADMITS.finditer(clause):
            if not _negated(clause.split(), len(clause[: m.start()].split())):
                admits = admits or m
                if m.group(0) not in _WEAK_ADMITS:
                    strong = strong or m
    yes_m = _YES.search(_SAFE_WORDS.sub(" ", flat))  # "fine" to this question is not a yes
    no_m = _NO.search(_ADMITS.sub(" ", flat) if strong else flat)
    hedge = _HEDGE.search(_NO.sub(" ", flat))
    safe_plain, safe_neg = _scoped_hits(_SAFE_WORDS, clean)
    if safe_neg or _UNSAFE_WORDS.search(flat):
        return Reading("unsure", False, "not okay")
    if strong:
        return Reading("yes", True, strong.group(0))
    if no_m and not (yes_m and yes_m.start() < no_m.start()):
        # "no", "no I'm not", "god no, I'm just sad"; but "no... maybe" is unsure
        if hedge and hedge.group(0) not in ("i think", "i mean"):
            return Reading("unsure", False, "a denial with a hedge")
        return Reading("no", True, no_m.group(0))
    if _is_question(text, flat) and not (yes_m or admits):
        return Reading("unsure", False, "a question back")
    if safe_plain and not yes_m:
        return Reading("unsure", False, "says they are okay, not that they are not thinking of it")
    if yes_m or admits:
        return Reading("yes", True, (yes_m or admits).group(0))  # type: ignore[union-attr]
    if hedge:
        return Reading("yes", False, hedge.group(0))
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

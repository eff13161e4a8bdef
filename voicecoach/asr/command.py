"""Command mode with a rejection path: a streaming closed grammar for early partial results, and
open recognition on a short window for the final word.

A closed grammar must put any speech on one of its phrases: "please stop" comes out as some
other phrase, a sentence about the weather as "thought record". Open recognition says what was
said, and the intents matcher then decides whether that is a command at all, so speech that is
not a command is rejected instead of forced onto one. The grammar still streams, so "stop" said
over the coach can be acted on from the partial result before the word is finished (the loop asks
for a sure match, twice in a row, and checks it against what the coach was saying).

The grammar's partial results alone are not trusted to interrupt: the coach's own voice, fed back,
is forced onto "stop" or "goodbye" now and then. Before a partial result interrupts, ``confirm()``
asks open recognition what the last :data:`CONFIRM_SECONDS` of audio say, and the loop acts only
when that is a command too (docs/asr.md, "Barge-in").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from voicecoach.normalize import with_apostrophes
from voicecoach.types import AudioChunk, Transcript

RESCUE_MIN = -6.0
"""Whisper's mean token log-probability of the grammar's interruption ("stop") that makes it the
final result when whisper's own text is not one; only for phrases of at most ``RESCUE_WORDS``
words, and only when whisper's own text is command-length (``RESCUE_HEARD_WORDS``). On the
corpus (docs/benchmarks.md), spoken interruptions misheard that way scored -1.3 to -6.4 (most
above -4.5). The same clip can score differently on another install: the test suite's Festival
"stop" written "start", rescued at -5.0 before, scored -5.3 with CTranslate2 4.8.5. The grammar's
phrases on the coach's own short sentences scored -9.9 or lower; on its long ones (whisper hears
many words) as high as -6.1, which the length check rules out. The nearest wrong rescues of a
person's command: "softer please" as "stop please" at -6.6, "louder please" as "bye" at -7.6.
Longer phrases share most of their tokens with other sentences: the grammar's "i want to stop"
for "i went to the shop" scored -4.3."""
RESCUE_WORDS = 2
RESCUE_INTENTS = ("stop", "pause")
"""The interruptions the rescue may restore. Not goodbye: it ends the session, and the grammar
forces a short utterance onto "bye" more than onto anything else; every "bye" it proposed on the
corpus was another command ("more please", "louder please", "one more time"), and none was a
goodbye whisper had missed."""
RESCUE_HEARD_WORDS = 5
"""Longest text of whisper's (read once, :func:`collapse_repeat`) that may be a short
interruption misheard ("can solve it can solve" for "cancel"); a sentence is not."""

COMMAND_PROMPT = "Stop. Pause. Louder. Softer. Slower. Skip. Say that again. Keep going. Yes. No."
"""The prompt of command mode's second reading (``CommandRecognizer``): the commands a person
says while the coach speaks. Written once, not tuned on any clip."""

PROMPTED = ("stop", "pause")
"""Interruptions the second reading's prompt names: a second reading is taken as one only when it
is one of their forms as written. The prompt can suggest them: on the corpus a Festival "hang on"
(heard "bend on") was read again as "end on", and an espeak-ng "softer please" as "stop stop
leave", both stop, which ends the session; keyword spotting decides such an utterance instead."""

CONFIRM_SECONDS = 1.5
"""Audio (the most recent) that open recognition hears to confirm a barge-in: enough for "please
stop" said slowly, little enough that the decode takes the shortest window."""


class CommandRecognizer:
    """``partial()`` from ``closed`` (streams); ``finish()`` from ``open`` (whisper on a short
    window). Nothing heard openly means nothing heard: the grammar's guess is not used."""

    mode = "command"

    def __init__(self, closed, open_rec, matcher: Any = None):
        self.closed_rec = closed
        self.open_rec = open_rec
        self.engine = f"{open_rec.engine}+{closed.engine}"
        self.closed: Transcript | None = None
        """What the grammar made of the last utterance (for debugging and benchmarks)."""
        self.heard: Transcript | None = None
        """Open recognition's own text of the last utterance, before keyword spotting."""
        self.spotted: str = ""
        """The command form keyword spotting took instead of that text ("" when none)."""
        self.reread_text: str = ""
        """Open recognition's second reading of the last utterance, with the commands as its
        prompt ("" when there was none)."""
        self.unexpected: frozenset[str] = frozenset()
        """Command intents that mean nothing in the session's state as the utterance starts (the
        live loop sets it: "resume" while a session runs unpaused). A text that reads as one is
        treated as no command: read again and spotted among the other forms, so "can you stop"
        heard as "can you start" over a running session can still be stop (docs/asr.md)."""
        self._barge_partial = ""
        self._matches: dict[str, Any] = {}
        self.spotter = spotter_for(matcher, getattr(getattr(closed, "engine_", None), "pronunciation", None))
        """Keyword spotting over the intents' command forms (None without an intents matcher)."""
        self.matcher = matcher

    def start(self) -> None:
        self.closed = None
        self.heard = None
        self.spotted = ""
        self.reread_text = ""
        self._barge_partial = ""
        self._matches = {}
        self.closed_rec.start()
        self.open_rec.start()

    def accept(self, chunk: AudioChunk) -> None:
        self.closed_rec.accept(chunk)
        self.open_rec.accept(chunk)

    def partial(self) -> Transcript:
        p = self.closed_rec.partial()
        if p.text and says_barge(p.text):
            self._barge_partial = p.text
        return p

    def confirm(self, seconds: float = CONFIRM_SECONDS) -> Transcript:
        """Open recognition of the last ``seconds`` heard so far (the utterance goes on): the
        second opinion a streaming partial result needs before it interrupts the coach."""
        return self.open_rec.peek(seconds)

    def cancel(self) -> None:
        """Drop the utterance without decoding it."""
        self.closed = None
        self.closed_rec.cancel()
        self.open_rec.cancel()

    def finish(self) -> Transcript:
        self.closed = self.closed_rec.finish()
        o = self.open_rec.finish()
        self.heard = o
        if self._flagged(o.text):
            return o  # a crisis statement is never read again as a command, nor rescued, nor spotted
        score = getattr(self.open_rec, "score_phrases", None)
        if self.spotter is None or score is None:
            return o if says_barge(o.text) else (self._rescue(collapse_repeat(o.text)) or o)
        text = self._read_once(o.text, score)
        if text != o.text and self._flagged(text):
            return o
        if not says_barge(text):
            rescued = self._rescue(text)
            if rescued is not None:
                return rescued
        cmd = self._command(text)
        if cmd is not None:
            # Whisper's text is a command already ("one more time one more time" once).
            heard = o if text == o.text else Transcript(text, o.confidence, o.words, True)
            return self._second_look(heard, cmd, score) or heard
        again = self._reread(text, score)
        if again is not None:
            return again
        return self._spot(o, text, score)

    def _reread(self, text: str, score: Callable[[Sequence[str]], list[float]]) -> Transcript | None:
        """Whisper's text (``text``) is no command: the same encoder output decoded again with
        the commands as its prompt (:data:`COMMAND_PROMPT`), taken when that reading is a
        command. The prompt tips a rough voice's "pause" from "on" to "pause"; speech that is no
        command stays a sentence (docs/asr.md, "Command mode")."""
        reread = getattr(self.open_rec, "reread", None)
        if reread is None or not text or len(text.split()) > SPOT_HEARD_WORDS:
            return None
        r = reread(COMMAND_PROMPT)
        self.reread_text = r.text
        again = self._read_once(r.text, score)
        cmd = self._command(again)
        if cmd is None:
            return None
        if cmd in PROMPTED and again not in (self.spotter.intent if self.spotter else {}):
            return None  # the prompt names it: only a form as written counts
        return Transcript(again, r.confidence, (), True)

    def _second_look(self, heard: Transcript, cmd: str,
                     score: Callable[[Sequence[str]], list[float]]) -> Transcript | None:
        """Whisper's text is a command only in the matcher's loose reading ("let's get this one"
        is yes, for "skip this one"): it is none of the command forms, and not stop. The second
        reading (:meth:`_reread`) is taken when it is a command form as written ("skip this one")
        of another intent. A stop, or a command form heard as written, is not read again."""
        if cmd == "stop" or self.spotter is None or heard.text in self.spotter.intent:
            return None
        again = self._reread(heard.text, score)
        if again is None or again.text not in self.spotter.intent or self._command(again.text) == cmd:
            return None
        return again

    @staticmethod
    def _read_once(heard: str, score: Callable[[Sequence[str]], list[float]]) -> str:
        """``heard`` read once when it is a phrase said twice. When the two halves differ
        ("can you start can you stop"), they are the decoder's two readings of one phrase, and
        the one whisper's decoder scores higher as the whole utterance is kept."""
        h = repeat_halves(heard)
        if h is None:
            return heard
        first, second = h
        if first == second:
            return first
        a, b = score([first, second])
        return second if b > a else first

    def _rescue(self, text: str) -> Transcript | None:
        """Whisper heard no interruption but a word or few (``text``: "stop" → "start" in one
        voice): the grammar's own "stop" stands if whisper's decoder finds it likely enough in the
        audio (n-best by rescoring; the coach's own short sentences score "stop" far lower, and a
        sentence whisper heard in full is no misheard command)."""
        if len(text.split()) > RESCUE_HEARD_WORDS:
            return None
        closed = self.closed
        cands = [t for t in dict.fromkeys((closed.text if closed else "", self._barge_partial))
                 if t and any(says_barge(t, i) for i in RESCUE_INTENTS) and len(t.split()) <= RESCUE_WORDS]
        rescore = getattr(self.open_rec, "rescore", None)
        if cands and rescore is not None:
            scores = rescore(cands)
            best = max(range(len(cands)), key=lambda i: scores[i])
            if scores[best] >= RESCUE_MIN:
                return Transcript(cands[best], math.exp(scores[best]), (), True)
        return None

    def _spot(self, o: Transcript, text: str, score: Callable[[Sequence[str]], list[float]]) -> Transcript:
        """Keyword spotting (docs/asr.md, "Command mode"): whisper's ``text`` (``o`` read once,
        :func:`collapse_repeat`) is no command; the command forms nearest to it in sound, and the
        grammar's phrases, are scored against the utterance as a whole; the best is the result
        when the audio supports it nearly as well as whisper's own text."""
        spotter, closed = self.spotter, self.closed
        if spotter is None or closed is None or not text:
            return o  # nothing heard openly is nothing heard: the grammar's guess is not used
        if len(text.split()) > SPOT_HEARD_WORDS:
            return o  # a sentence, not a short command misheard (and costly to score)
        cands = [c for c in spotter.shortlist(text, (closed.text, self._barge_partial))
                 if spotter.intent[c] not in self.unexpected]
        if not cands:
            return o
        scores = score([*cands, text])
        best = max(range(len(cands)), key=lambda i: scores[i])
        if scores[best] < max(scores[-1] - SPOT_MARGIN, SPOT_FLOOR):
            return o
        self.spotted = cands[best]
        return Transcript(cands[best], max(0.0, min(1.0, math.exp(scores[best]))), (), True)

    def _match(self, text: str) -> Any:
        """The matcher's reading of ``text`` in a session, once per text and utterance."""
        got = self._matches.get(text)
        if got is None:
            got = self._matches[text] = self.matcher(text, in_session=True)
        return got

    def _flagged(self, text: str) -> bool:
        """True when the matcher reads ``text`` as a crisis statement or asks about one."""
        if self.matcher is None or not text:
            return False
        m = self._match(text)
        return m.flagged

    def _command(self, text: str) -> str | None:
        """The command intent the matcher reads in ``text`` (None: not one of the spotter's, or
        one of :attr:`unexpected`)."""
        if self.matcher is None or self.spotter is None:
            return None
        m = self._match(text)
        if m.crisis or m.name not in self.spotter.intents or m.name in self.unexpected:
            return None
        return m.name

    def rescore(self, texts: Sequence[str]) -> list[float]:
        """The open engine's score of each text against the last utterance."""
        return self.open_rec.rescore(texts)


BARGE_WORDS: dict[str, tuple[str, ...]] = {
    # The words an interruption is made of. The intents matcher reads much more as stop, pause or
    # goodbye ("end", "thanks", "for a few seconds"): right for a request, too loose to cut the
    # coach off mid-sentence on a partial result. Other ways of saying it still work at the end
    # of the utterance.
    "stop": ("stop", "enough", "quiet", "cancel", "shut up"),
    "pause": ("pause", "hold on", "hang on", "wait"),
    "goodbye": ("goodbye", "bye", "good night"),
}


def says_barge(text: str, intent: str | None = None) -> bool:
    """True when ``text`` holds a word of an interruption (of ``intent``, or of any)."""
    padded = " " + " ".join(text.lower().replace("\u2019", "'").split()) + " "
    forms = BARGE_WORDS.get(intent, ()) if intent else tuple(w for ws in BARGE_WORDS.values() for w in ws)
    return any(f" {w} " in padded for w in forms)


_OPEN_ENDS = frozenset({
    # Words a finished sentence does not end on: "i want to", "i'm going to", "i want to end my".
    "to", "the", "a", "an", "my", "your", "our", "their", "and", "or", "but", "of", "for",
    "about", "with", "i", "i'm", "im", "want", "wanna", "gonna", "just", "so", "because", "if",
    "than", "end", "kill", "hurt", "take", "be", "can't", "cant", "don't", "dont", "should",
    "could", "would", "might", "never", "any",
})


def incomplete(text: str) -> bool:
    """True when ``text`` stops mid-sentence ("i want to"): such a text is never taken as a
    control command, and the endpointer waits longer for the rest (it may be a crisis statement
    cut short: "i want to ... die")."""
    ws = text.lower().replace("\u2019", "'").split()
    return len(ws) >= 2 and ws[-1].strip(".,!?") in _OPEN_ENDS


# --------------------------------------------------------------------------- keyword spotting

SPOT_MAX_WORDS = 4
"""Longest command form (words) the spotter scores: longer sentences are the matcher's to read."""
SHORTLIST = 6
"""Command forms scored against the audio per utterance, nearest in sound to what whisper wrote
(each costs one pass of whisper's decoder over the encoded window)."""
ALWAYS_SCORED = ("stop", "please stop", "okay stop", "that's enough", "enough")
"""The interruption's commonest forms, scored whatever whisper wrote: a misheard "stop" is often
nothing like it in sound ("it's time it's tough", "matching up" for "that's enough"). On the
corpus's coach speech and non-commands (169 clips) none of them scored near whisper's own text."""
SPOT_HEARD_WORDS = 8
"""Longest text of whisper's (after :func:`collapse_repeat`) that may be a command misheard:
"it's time it's top it was top" for "stop" is seven words."""
SPOT_MARGIN = 1.0
"""A command form is taken when its score (mean log-probability per token, the end included)
is at most this far below whisper's own text's, and at least :data:`SPOT_FLOOR`. Chosen on the
espeak-ng and Festival families of the corpus (docs/benchmarks.md); a floor of -2.5 or lower
took a non-command ("i need to bind those candidates" → "i need to go") and, at -3.0, the
coach's own "out" as "thanks that's it"."""
SPOT_FLOOR = -2.0

def command_vocabulary(match: Any) -> tuple[tuple[str, str], ...]:
    """Every short form (at most :data:`SPOT_MAX_WORDS` words) of the intents acted on while the
    coach speaks or in an answer, as ``(phrase, intent)``: each intent's command phrases and the
    expansions of its templates in intents.yaml ("please stop", "okay stop", "can you stop").
    A single word counts only when it is one of the intent's command phrases ("kill", "end" from
    a template are not commands on their own). Empty when ``match`` is not an intents matcher's."""
    im = getattr(match, "__self__", match)
    if not hasattr(im, "acting") or not hasattr(im, "grammar"):
        return ()
    key = id(im)
    got = _VOCABULARIES.get(key)
    if got is not None and got[0] is im:
        return got[1]
    out: dict[str, str] = {}
    for name in sorted(im.acting("while_speaking") | im.acting("in_answer")):
        intent = im.intents[name]
        singles = {p for p in intent.command_phrases if len(p.split()) == 1}
        forms = list(intent.command_phrases)
        for t in intent.templates:
            forms += [s for s, _ in im.grammar.sentences(t.tree, limit=400)]
        for form in forms:
            ws = with_apostrophes(form.lower().replace("\u2019", "'")).split()
            if not ws or len(ws) > SPOT_MAX_WORDS or (len(ws) == 1 and ws[0] not in singles):
                continue
            out.setdefault(" ".join(ws), name)
    vocab = tuple(out.items())
    _VOCABULARIES[key] = (im, vocab)
    return vocab


_VOCABULARIES: dict[int, tuple[Any, tuple[tuple[str, str], ...]]] = {}

_PHONE_CHARS = {p: chr(ord("A") + i) if i < 26 else chr(ord("a") + i - 26) for i, p in enumerate((
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH"))}


class Spotter:
    """Which command form, if any, the audio says: the forms nearest in sound to whisper's text
    are scored by whisper's decoder against the encoded utterance, and the best is taken only when
    the audio supports it about as well as whisper's own text (docs/asr.md, "Command mode")."""

    def __init__(self, vocabulary: Sequence[tuple[str, str]], pronounce: Callable[[str], str | None]):
        self.vocabulary = tuple(vocabulary)
        self.intent = dict(self.vocabulary)
        """Command form → its intent."""
        self.intents = frozenset(self.intent.values())
        self._pronounce = pronounce
        self._keys = [self.sounds(p) for p, _ in self.vocabulary]

    def sounds(self, text: str) -> str:
        """``text`` as a string of phones, one character each (letters for unknown words)."""
        out: list[str] = []
        for w in text.lower().replace("\u2019", "'").split():
            ph = self._pronounce(w) or self._pronounce(w.replace("'", ""))
            if ph:
                out += [_PHONE_CHARS.get(p.rstrip("012"), "?") for p in ph.split()]
            else:
                out += [c for c in w.upper() if c.isalpha()]
        return "".join(out)

    def shortlist(self, heard: str, extra: Sequence[str] = (), n: int = SHORTLIST) -> list[str]:
        """The command forms to score: the ``n`` nearest to ``heard`` in sound (a form said
        inside a longer mis-hearing counts: "it's time it's top" holds "stop"), and ``extra``
        (the grammar's phrases) when they are forms of the vocabulary."""
        from rapidfuzz import fuzz, process

        key = self.sounds(heard)
        picked = [self.vocabulary[i][0] for _, _, i in
                  process.extract(key, self._keys, scorer=fuzz.WRatio, limit=n)] if key else []
        always = [a for a in ALWAYS_SCORED if a in self.intent]
        return list(dict.fromkeys(picked + [e for e in extra if e in self.intent] + always))


def spotter_for(matcher: Any, pronounce: Callable[[str], str | None] | None) -> Spotter | None:
    """The :class:`Spotter` of an intents matcher (built once per matcher), or None without one."""
    vocab = command_vocabulary(matcher) if matcher is not None else ()
    if not vocab:
        return None
    # A bound method is made anew at each access: key on the engine it belongs to.
    key = (id(vocab), id(getattr(pronounce, "__self__", pronounce)))
    got = _SPOTTERS.get(key)
    if got is None or got.vocabulary is not vocab:
        got = Spotter(vocab, pronounce or (lambda w: None))
        _SPOTTERS[key] = got
    return got


_SPOTTERS: dict[tuple[int, int], Spotter] = {}


def repeat_halves(text: str) -> tuple[str, str] | None:
    """The two halves of a text that is one phrase said twice (alike to :data:`COLLAPSE_SIMILAR`),
    or None: short windows make whisper repeat itself ("one more time one more time")."""
    from rapidfuzz import fuzz

    ws = text.split()
    half = len(ws) // 2
    if half and len(ws) % 2 == 0:
        first, second = " ".join(ws[:half]), " ".join(ws[half:])
        if fuzz.ratio(first, second) >= COLLAPSE_SIMILAR:
            return first, second
    return None


def collapse_repeat(text: str) -> str:
    """A text that is one phrase said twice, as once (its first half: "wait the moment wait the
    moments" → "wait the moment"); :meth:`CommandRecognizer._read_once` chooses between
    halves that differ when whisper's decoder can score them."""
    h = repeat_halves(text)
    return h[0] if h else text


COLLAPSE_SIMILAR = 75
"""How alike (rapidfuzz ratio) the two halves of a text must be to be one phrase repeated."""

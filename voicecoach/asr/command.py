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
from collections.abc import Sequence

from voicecoach.types import AudioChunk, Transcript

RESCUE_MIN = -5.0
"""Whisper's mean token log-probability of the grammar's interruption ("stop") that makes it the
final result when whisper's own text is not one; only for phrases of at most ``RESCUE_WORDS``
words. Spoken "stop" that whisper wrote as "start" scored -2.1 to -5.0 (Festival), spoken "stop" in
noise -1.3 to -1.5 (espeak-ng); the grammar's "stop" on the coach's own sentences -7.5 or lower.
Longer phrases share most of their tokens with other sentences: the grammar's "i want to stop"
for "i went to the shop" scored -4.3."""
RESCUE_WORDS = 2

CONFIRM_SECONDS = 1.5
"""Audio (the most recent) that open recognition hears to confirm a barge-in: enough for "please
stop" said slowly, little enough that the decode takes the shortest window."""


class CommandRecognizer:
    """``partial()`` from ``closed`` (streams); ``finish()`` from ``open`` (whisper on a short
    window). Nothing heard openly means nothing heard: the grammar's guess is not used."""

    mode = "command"

    def __init__(self, closed, open_rec):
        self.closed_rec = closed
        self.open_rec = open_rec
        self.engine = f"{open_rec.engine}+{closed.engine}"
        self.closed: Transcript | None = None
        """What the grammar made of the last utterance (for debugging and benchmarks)."""
        self._barge_partial = ""

    def start(self) -> None:
        self.closed = None
        self._barge_partial = ""
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
        if says_barge(o.text):
            return o
        # Whisper heard no interruption ("stop" → "start" in one voice): the grammar's own "stop"
        # stands if whisper's decoder finds it likely enough in the audio (n-best by rescoring;
        # the coach's own speech scores "stop" far lower).
        cands = [t for t in dict.fromkeys((self.closed.text, self._barge_partial))
                 if t and says_barge(t) and len(t.split()) <= RESCUE_WORDS]
        rescore = getattr(self.open_rec, "rescore", None)
        if cands and rescore is not None:
            scores = rescore(cands)
            best = max(range(len(cands)), key=lambda i: scores[i])
            if scores[best] >= RESCUE_MIN:
                return Transcript(cands[best], math.exp(scores[best]), (), True)
        return o

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

"""Command mode with a rejection path: a streaming closed grammar for early partial results, and
open recognition on a short window for the final word.

A closed grammar must put any speech on one of its phrases: "please stop" comes out as some
other phrase, a sentence about the weather as "thought record". Open recognition says what was
said, and the intents matcher then decides whether that is a command at all, so speech that is
not a command is rejected instead of forced onto one. The grammar still streams, so "stop" said
over the coach can be acted on from the partial result before the word is finished (the loop asks
for a sure match, twice in a row, and checks it against what the coach was saying).
"""

from __future__ import annotations

from collections.abc import Sequence

from voicecoach.types import AudioChunk, Transcript


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

    def start(self) -> None:
        self.closed = None
        self.closed_rec.start()
        self.open_rec.start()

    def accept(self, chunk: AudioChunk) -> None:
        self.closed_rec.accept(chunk)
        self.open_rec.accept(chunk)

    def partial(self) -> Transcript:
        return self.closed_rec.partial()

    def finish(self) -> Transcript:
        self.closed = self.closed_rec.finish()
        return self.open_rec.finish()

    def rescore(self, texts: Sequence[str]) -> list[float]:
        """The open engine's score of each text against the last utterance."""
        return self.open_rec.rescore(texts)


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

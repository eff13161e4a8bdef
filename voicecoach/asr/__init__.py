"""Speech recognition behind one interface.

A :class:`Recognizer` hears one utterance::

    rec.start()
    for chunk in chunks:          # 16 kHz mono int16 AudioChunks, any size
        rec.accept(chunk)
        rec.partial()             # what has been heard so far (may be empty)
    transcript = rec.finish()     # final Transcript; the recogniser can then be started again

Models are heavy and recognisers are cheap: :func:`load_speech` loads the engines once (and caches
them per configuration), and :meth:`Speech.recognizer` makes a fresh recogniser per utterance in
any mode:

- ``command``: a closed set of phrases (control intents, yes/no, short technique requests and
  always the crisis phrases); fast, and heard while the coach speaks.
- ``dictation``: open text, for answers in thought records and I-statements.
- ``request``: open recognition, cross-checked against the closed set (see :mod:`.request`).

Engines (``asr.engine`` in config, or ``engine=``): ``vosk``, ``pocketsphinx``, ``whisper``, or
``auto``: vosk with an English model, else whisper for dictation/request with pocketsphinx for
commands, else pocketsphinx alone. ``Speech.engine_for(mode)`` says which engine serves a mode.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from voicecoach.errors import EngineUnavailable, VoicecoachError
from voicecoach.types import AudioChunk, IntentMatch, Transcript

log = logging.getLogger(__name__)

MODES = ("command", "dictation", "request")
DISPUTE_MARGIN = 1.0
"""How far below the open text's score (whisper's mean token log-probability) the grammar's
phrase of another intent may score and still earn a second opinion. On the test fixtures the one
grammar phrase that was right ("next", where the short window heard "relax") scored above the
open text; on the corpus of docs/benchmarks.md every disputing phrase of the grammar scored at
least 1.6 below it, and a 30-s decode for those fixed 2 requests and broke 6."""
ENGINES = ("auto", "vosk", "pocketsphinx", "whisper")

FALLBACK_PHRASES: tuple[str, ...] = (
    # Used only when the intents module cannot give its phrase list.
    "stop", "pause", "resume", "go on", "next", "skip", "repeat", "say that again", "tell me more",
    "slower", "faster", "louder", "quieter", "yes", "no", "help", "goodbye",
    "i'm anxious", "can we breathe", "help me breathe", "ground me", "i can't sleep",
    "help me relax", "help me reframe this thought",
    "i want to kill myself", "i want to die", "i'm going to hurt myself", "i want to end my life",
    "i've been saving my pills", "everyone would be better off without me", "suicide",
)


@runtime_checkable
class Recognizer(Protocol):
    """One utterance at a time. Contract:

    - ``start()`` begins an utterance (discarding anything heard before).
    - ``accept(chunk)`` takes 16 kHz mono int16 audio (other rates/channels are converted).
    - ``partial()`` is the text so far with ``final=False``; engines that cannot stream
      (whisper) return an empty text.
    - ``finish()`` ends the utterance and returns the final :class:`Transcript` (lower case, no
      punctuation; empty text when nothing was recognised). ``start()`` may be called again.
    """

    engine: str
    """The engine that actually decodes (``"whisper+pocketsphinx"`` for a combined request)."""
    mode: str

    def start(self) -> None: ...

    def accept(self, chunk: AudioChunk) -> None: ...

    def partial(self) -> Transcript: ...

    def finish(self) -> Transcript: ...


class Engine(Protocol):
    """A loaded model, shared by the recognisers it makes."""

    name: str

    def recognizer(self, mode: str, phrases: Sequence[str]) -> Recognizer: ...


Matcher = Callable[[str], IntentMatch]
"""Text → IntentMatch (``voicecoach.intents`` matcher's ``match``)."""


@dataclass
class Speech:
    """The loaded engines for every mode; make a recogniser per utterance with
    :meth:`recognizer`."""

    command: Engine
    """Decodes command mode (a grammar of the phrases)."""
    dictation: Engine
    """Decodes dictation, and the open half of request mode."""
    check: Engine | None
    """Decodes the closed half of request mode (None: request mode is dictation alone)."""
    phrases: tuple[str, ...]
    """The closed phrase set for command mode."""
    matcher: Matcher | None = None
    """Used by request mode to choose between the open and the closed decode."""
    notes: list[str] = field(default_factory=list)
    """Why an engine was chosen or passed over."""
    command_open: Engine | None = None
    """When set, command mode's final result is this engine's open transcript (the grammar only
    streams partial results): speech that is not a command is rejected, not forced onto one."""
    _crisis: tuple[str, ...] | None = field(default=None, repr=False)

    def engine_for(self, mode: str) -> str:
        """The name of the engine that decodes ``mode`` (``"whisper+pocketsphinx"`` when request
        mode combines two)."""
        _check_mode(mode)
        if mode == "command":
            if self.command_open is not None and self.command_open.name != self.command.name:
                return f"{self.command_open.name}+{self.command.name}"
            return self.command.name
        if mode == "request" and self.check is not None and self.check.name != self.dictation.name:
            return f"{self.dictation.name}+{self.check.name}"
        return self.dictation.name

    def recognizer(self, mode: str = "request") -> Recognizer:
        """A fresh recogniser for one utterance (cheap: the models are already loaded)."""
        _check_mode(mode)
        if mode == "command":
            closed = self.command.recognizer("command", self.phrases)
            if self.command_open is None or self.command_open is self.command:
                return closed
            from voicecoach.asr.command import CommandRecognizer

            return CommandRecognizer(closed, self.command_open.recognizer("command", self.phrases), self.matcher)
        if mode == "dictation" or self.check is None:
            return self.dictation.recognizer("dictation", self.phrases)
        return RequestRecognizer(
            self.dictation.recognizer("request", self.phrases),
            self.check.recognizer("command", self.phrases),
            self.matcher,
            self.crisis_phrases,
            phrases=self.request_phrases,
        )

    @property
    def request_phrases(self) -> tuple[str, ...]:
        """The phrases of the set that are not crisis phrases (request mode's n-best step)."""
        crisis = set(self.crisis_phrases)
        return tuple(p for p in self.phrases if p not in crisis)

    @property
    def crisis_phrases(self) -> tuple[str, ...]:
        """The phrases of the set that the matcher screens as a crisis."""
        if self._crisis is None:
            m = self.matcher
            self._crisis = tuple(p for p in self.phrases if m is not None and m(p).crisis)
        return self._crisis

    def warm_up(self) -> None:
        """Run every mode once on quiet noise, so the first real utterance pays no one-off cost
        (grammar compilation, whisper's first pass). Digital silence would be skipped."""
        import numpy as np

        rng = np.random.default_rng(0)
        quiet = AudioChunk(16000, (rng.standard_normal(8000) * 300).astype(np.int16))
        for mode in MODES:
            self.transcribe(quiet, mode)

    def transcribe(self, chunk: AudioChunk, mode: str = "request") -> Transcript:
        """Recognise one whole utterance."""
        rec = self.recognizer(mode)
        rec.start()
        rec.accept(chunk)
        return rec.finish()


@dataclass(frozen=True)
class RequestChoice:
    """How a request-mode recogniser chose its answer."""

    source: str
    """"open", "closed", "rescored" (a crisis phrase the audio supports), "second" (the open
    engine's decode on its longest window heard a crisis statement) or "phrase" (an intent phrase
    the audio supports better than the open text, which gave no intent)."""
    reason: str
    open: Transcript
    closed: Transcript


class RequestRecognizer:
    """Open recognition with the closed phrase set as a cross-check.

    Both decoders hear the same audio. The open transcript wins, except:

    - a crisis is never lost to a mis-hearing: when the open text is not a crisis statement, the
      crisis phrases that look like it (and any the closed decode heard) are scored against the
      audio by the open engine (``rescore``: whisper's mean token log-probability of the
      phrase); one scoring at least ``rescore_min`` replaces the text. Without ``rescore``, a
      crisis phrase from the closed decode with confidence >= ``crisis_min`` is taken;
    - when the open text gives no intent and the closed decode gives one with confidence >=
      ``closed_min``, the closed phrase is returned if the audio supports it (rescored at least
      ``phrase_min`` and better than the open text);
    - on a short window, the open engine decodes again on 30 s (``second_opinion``) where that
      can change the decision: no intent, a crisis-like text, a crisis phrase like it, or a
      grammar decode of another intent that the audio supports about as well (``_disputed``);
    - an open text that still gives no intent is replaced by the intent phrase like it that the
      audio supports best, if it scores at least ``phrase_min`` and better than the text itself.

    :meth:`prepare_open` runs the part that needs only the open text ahead of the endpoint.

    ``choice`` records the decision after ``finish()``.
    """

    mode = "request"

    def __init__(self, open_rec: Recognizer, closed_rec: Recognizer, matcher: Matcher | None,
                 crisis_phrases: Sequence[str] = (), closed_min: float = 0.75,
                 crisis_min: float = 0.6, rescore_min: float = -1.8,
                 phrases: Sequence[str] = (), phrase_min: float = -1.5):
        self.open_rec = open_rec
        self.closed_rec = closed_rec
        self.matcher = _remembered(matcher) if matcher is not None else None
        """The matcher, remembering its answers for this recogniser's texts (the decision asks
        about the same text several times, and the intents matcher is not free)."""
        self.crisis_phrases = tuple(crisis_phrases)
        self.closed_min = closed_min
        self.crisis_min = crisis_min
        self.rescore_min = rescore_min
        self.phrases = tuple(phrases)
        """The intent phrases (not crisis phrases) for the n-best step (:meth:`_phrase`)."""
        self.phrase_min = phrase_min
        self.engine = f"{open_rec.engine}+{closed_rec.engine}"
        self.choice: RequestChoice | None = None

    def start(self) -> None:
        self.choice = None
        self.open_rec.start()
        self.closed_rec.start()

    def accept(self, chunk: AudioChunk) -> None:
        self.open_rec.accept(chunk)
        self.closed_rec.accept(chunk)

    def partial(self) -> Transcript:
        p = self.open_rec.partial()
        return p if p.text else self.closed_rec.partial()

    def finish(self) -> Transcript:
        return self._finish(self.open_rec.finish(), self.open_rec)

    def finish_open(self, open_rec: Recognizer, o: Transcript) -> Transcript:
        """Finish with the open half already decoded by ``open_rec`` (an open recogniser of the
        same engine that heard the same audio, e.g. in the background while the person paused)."""
        return self._finish(o, open_rec)

    def prepare_open(self, open_rec: Recognizer, o: Transcript) -> bool:
        """Do ahead what the decision needs from the open decode ``o`` alone (``open_rec`` heard
        the audio; the background decode at a pause calls this): the decision is run once with
        no grammar result, so the crisis phrases like the text are scored, the 30-s second
        opinion is decoded where it could change the decision and intent phrases are scored
        (all remembered by ``open_rec``). :meth:`finish_open` then finds them done. True when the
        open text alone decides: a non-crisis intent, not crisis-like, like no crisis phrase (the
        endpoint may then come sooner)."""
        if self.matcher is None:
            return False
        self._decide(o, Transcript("", 0.0, (), True), open_rec)
        mo = self.matcher(o.text) if o.text else None
        return (mo is not None and mo.name is not None and not crisis_like(mo)
                and not near_phrases(o.text, self.crisis_phrases))

    def _finish(self, o: Transcript, open_rec: Recognizer) -> Transcript:
        t, self.choice = self._decide(o, self.closed_rec.finish(), open_rec)
        return t

    def _decide(self, o: Transcript, c: Transcript, open_rec: Recognizer) -> tuple[Transcript, RequestChoice]:
        rescore = getattr(open_rec, "rescore", None)
        if self.matcher is None or rescore is None or not self.crisis_phrases:
            source, reason = choose(o, c, self.matcher, self.closed_min, self.crisis_min)
            return (o if source == "open" else c), RequestChoice(source, reason, o, c)
        if o.text and self.matcher(o.text).crisis:
            return o, RequestChoice("open", "open text is a crisis statement", o, c)
        heard = [c.text] if c.text and self.matcher(c.text).crisis else []
        heard += [a for a in o.alternatives if self.matcher(a).crisis]
        cands = list(dict.fromkeys(heard + near_phrases(o.text, self.crisis_phrases)))
        if cands:
            t = self._rescored(cands, rescore, o, c, "")
            if t is not None:
                return t
        # A short window heard nothing the coach knows, something crisis-like or like a crisis
        # phrase, or a request the grammar disputes: decode again on the full 30-s window
        # ("saving up my bills" on 10 s was "pills" on 30 s) before a crisis is ruled out or
        # the grammar's phrase is taken. A confident, ordinary request is not decoded again.
        mo = self.matcher(o.text) if o.text else None
        unsure = mo is None or mo.name is None or self._disputed(o, c, mo, rescore)
        wary = mo is not None and crisis_like(mo)
        second = getattr(open_rec, "second_opinion", None)
        o2 = second() if second is not None and (cands or unsure or wary) else None
        if o2 is not None:
            if o2.text and self.matcher(o2.text).crisis:
                return o2, RequestChoice("second", "the 30-s window heard a crisis statement", o, c)
            more = [a for a in o2.alternatives if self.matcher(a).crisis]
            more += near_phrases(o2.text, self.crisis_phrases)
            if cands or more:
                t = self._rescored(list(dict.fromkeys(cands + more)), rescore, o, c,
                                   " on the 30-s window")
                if t is not None:
                    return t
            if unsure and not wary and o2.text:
                o = o2
        source, reason = choose(o, c, self.matcher, self.closed_min, crisis_min=2.0)
        if source == "closed" and not self._closed_supported(o, c, rescore):
            # The grammar forces any speech onto some phrase ("i'm going to hurt myself" →
            # "find a therapist"): its phrase stands only where the audio supports it.
            source, reason = "open", "open text gave no intent; the audio does not support the closed phrase"
        mf = self.matcher(o.text) if source == "open" and o.text else None
        if mf is not None and mf.name is None and not mf.crisis:
            t = self._phrase(o, c, rescore)
            if t is not None:
                return t
        return (o if source == "open" else c), RequestChoice(source, reason, o, c)

    def _disputed(self, o: Transcript, c: Transcript, mo: IntentMatch, rescore) -> bool:
        """Does a confident grammar decode of another intent have the audio's support, about as
        much as the open text's (scored by the open engine)? The grammar is sure of some phrase
        for almost any speech ("thank you goodbye", "not really"); those phrases score far below
        the open text and are no reason for a second opinion (docs/asr.md, "Whisper's window")."""
        if self.matcher is None or not c.text or c.confidence < self.closed_min:
            return False
        mc = self.matcher(c.text)
        if mc.name is None or mc.name == mo.name:
            return False
        scores = rescore([c.text, o.text])
        return scores[0] >= scores[1] - DISPUTE_MARGIN

    def _closed_supported(self, o: Transcript, c: Transcript, rescore) -> bool:
        """Does the audio support the closed decode's phrase (scored by the open engine) at
        least ``phrase_min`` and better than the open text?"""
        texts = [c.text, o.text] if o.text else [c.text]
        scores = rescore(texts)
        return scores[0] >= self.phrase_min and (len(scores) == 1 or scores[0] > scores[1])

    def _phrase(self, o: Transcript, c: Transcript, rescore) -> tuple[Transcript, RequestChoice] | None:
        """N-best over the intent phrases: for an open text that gives no intent, the phrases
        like it ("i'm patrick king" → "i am panicking") and the text itself are scored against
        the audio; a phrase that scores at least ``phrase_min`` and better than the text wins."""
        cands = near_phrases(o.text, self.phrases)
        if not cands:
            return None
        scores = rescore([o.text, *cands])
        best = max(range(len(cands)), key=lambda i: scores[i + 1])
        score = scores[best + 1]
        if score < self.phrase_min or score <= scores[0]:
            return None
        return Transcript(cands[best], math.exp(score), (), True), RequestChoice(
            "phrase", f"audio supports intent phrase (score {score:.2f}, the text {scores[0]:.2f})", o, c)

    def _rescored(self, cands: list[str], rescore, o: Transcript, c: Transcript,
                  where: str) -> tuple[Transcript, RequestChoice] | None:
        """The best crisis phrase the audio supports (score >= ``rescore_min``), or None."""
        scores = rescore(cands)
        best = max(range(len(cands)), key=lambda i: scores[i])
        if scores[best] < self.rescore_min:
            return None
        return Transcript(cands[best], math.exp(scores[best]), (), True), RequestChoice(
            "rescored", f"audio supports crisis phrase (score {scores[best]:.2f}){where}", o, c)


def _remembered(matcher: Matcher) -> Matcher:
    seen: dict[str, IntentMatch] = {}

    def match(text: str) -> IntentMatch:
        if text not in seen:
            seen[text] = matcher(text)
        return seen[text]

    return match


def crisis_like(m: IntentMatch) -> bool:
    """A match the coach answers by asking directly about safety (``crisis_check``): never
    traded for an ordinary intent, but worth a second opinion."""
    return m.name == "crisis_check" or bool(m.slots.get("ask_directly"))


def choose(o: Transcript, c: Transcript, matcher: Matcher | None,
           closed_min: float = 0.75, crisis_min: float = 0.6) -> tuple[str, str]:
    """Which of an open and a closed transcript of the same audio to believe, and why."""
    if matcher is None:
        if o.text:
            return "open", "no matcher: open text"
        if c.text and c.confidence >= closed_min:
            return "closed", "no matcher: open decode empty"
        return "open", "no matcher: nothing confident"
    mo = matcher(o.text) if o.text else None
    if mo is not None and mo.crisis:
        return "open", "open text is a crisis statement"
    mc = matcher(c.text) if c.text else None
    if mc is not None and mc.crisis and c.confidence >= crisis_min:
        return "closed", "closed decode heard a crisis phrase the open text lacks"
    if (mo is None or mo.name is None) and mc is not None and mc.name and not mc.crisis \
            and c.confidence >= closed_min:
        return "closed", "open text gave no intent; closed decode did"
    return "open", "open text"


def near_phrases(text: str, phrases: Sequence[str], min_ratio: float = 60.0, limit: int = 6) -> list[str]:
    """Phrases like ``text``, best first: whole phrases (rapidfuzz ratio >= ``min_ratio``), and
    ``text`` with its part most like a shorter phrase replaced by it ("i'm going to third myself"
    → "i'm going to hurt myself")."""
    if not text:
        return []
    from rapidfuzz import fuzz

    scored: dict[str, float] = {}
    for p in phrases:
        r = fuzz.ratio(text, p)
        if r >= min_ratio:
            scored[p] = max(scored.get(p, 0.0), r)
        if len(p) >= 8 and len(p) < len(text):
            al = fuzz.partial_ratio_alignment(p, text)
            if al is not None and al.score >= min_ratio + 10:
                start, end = al.dest_start, al.dest_end
                # widen to word boundaries
                while start > 0 and text[start - 1] != " ":
                    start -= 1
                while end < len(text) and text[end] != " ":
                    end += 1
                spliced = " ".join((text[:start] + p + text[end:]).split())
                scored[spliced] = max(scored.get(spliced, 0.0), al.score)
    best = sorted(scored.items(), key=lambda kv: -kv[1])
    return [p for p, _ in best[:limit]]


_cache: dict[tuple, Speech] = {}
_cache_lock = threading.Lock()


def load_speech(
    config,
    engine: str | None = None,
    phrases: Sequence[str] | None = None,
    matcher: Matcher | None = None,
) -> Speech:
    """Load the engines once for ``config`` (cached: a second call with the same settings returns
    the same object). ``engine`` overrides ``config.asr.engine``; ``phrases`` overrides the
    intents module's command phrases; ``matcher`` overrides its matcher.

    Raises EngineUnavailable (saying what to install or download) when the engine cannot load.
    """
    name = engine or config.asr.engine or "auto"
    if name not in ENGINES:
        raise VoicecoachError(f"unknown speech engine '{name}' (choose from {', '.join(ENGINES)})")
    given = tuple(phrases) if phrases is not None else None
    key = (name, config.asr.vosk_model, config.asr.whisper_model, config.asr.language,
           str(config.home), os.environ.get("VOICECOACH_VOSK_MODEL"),
           os.environ.get("VOICECOACH_WHISPER_MODEL"), given,
           id(matcher) if matcher is not None else None)
    with _cache_lock:
        speech = _cache.get(key)
        if speech is None:
            if phrases is None or matcher is None:
                default_phrases, default_matcher = _intents(config.home)
                phrases = default_phrases if phrases is None else phrases
                matcher = default_matcher if matcher is None else matcher
            clean = tuple(dict.fromkeys(p.strip().lower() for p in phrases if p.strip()))
            speech = _build(config, name, clean, matcher)
            _cache[key] = speech
        return speech


def open_recognizer(
    config,
    mode: str = "request",
    engine: str | None = None,
    phrases: Sequence[str] | None = None,
) -> Recognizer:
    """A recogniser for one utterance; the engines behind it are loaded once and cached."""
    return load_speech(config, engine, phrases).recognizer(mode)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise VoicecoachError(f"unknown recognition mode '{mode}' (choose from {', '.join(MODES)})")


def _intents(home: Path) -> tuple[Sequence[str], Matcher | None]:
    try:
        from voicecoach.intents import load_matcher
    except ImportError:
        log.warning("voicecoach.intents is not available; using the built-in command phrases")
        return FALLBACK_PHRASES, None
    m = load_matcher(home)
    return list(m.command_phrases()), m.match


def _load(name: str, config) -> Engine:
    if name == "vosk":
        from voicecoach.asr.vosk_engine import VoskEngine

        return VoskEngine.load(config)
    if name == "pocketsphinx":
        from voicecoach.asr.pocketsphinx_engine import PocketsphinxEngine

        return PocketsphinxEngine.load()
    from voicecoach.asr.whisper_engine import WhisperEngine

    return WhisperEngine.load(config)


def _build(config, name: str, phrases: tuple[str, ...], matcher: Matcher | None) -> Speech:
    notes: list[str] = []
    if name in ("vosk", "pocketsphinx"):
        eng = _load(name, config)
        return Speech(eng, eng, eng, phrases, matcher, notes)
    if name == "whisper":
        wh = _load("whisper", config)
        try:
            check: Engine | None = _load("pocketsphinx", config)
        except EngineUnavailable as exc:
            check = None
            notes.append(f"request mode without a grammar cross-check: {exc}")
        return Speech(check or wh, wh, check, phrases, matcher, notes, command_open=wh)
    # auto: vosk with an English model, else whisper + pocketsphinx, else pocketsphinx.
    loaded: dict[str, Engine] = {}
    for candidate in ("vosk", "whisper", "pocketsphinx"):
        try:
            loaded[candidate] = _load(candidate, config)
        except EngineUnavailable as exc:
            notes.append(f"{candidate} passed over: {exc}")
            continue
        if candidate == "vosk":
            eng = loaded["vosk"]
            return Speech(eng, eng, eng, phrases, matcher, notes)
    whisper, ps = loaded.get("whisper"), loaded.get("pocketsphinx")
    if whisper is not None:
        return Speech(ps if ps is not None else whisper, whisper, ps, phrases, matcher, notes, command_open=whisper)
    if ps is not None:
        return Speech(ps, ps, ps, phrases, matcher, notes)
    raise EngineUnavailable("no speech engine could load: " + "; ".join(notes))


def clear_cache() -> None:
    """Forget loaded engines (tests; after downloading a model)."""
    with _cache_lock:
        _cache.clear()


__all__ = [
    "MODES", "ENGINES", "FALLBACK_PHRASES", "Recognizer", "Engine", "Speech", "Matcher",
    "RequestRecognizer", "RequestChoice", "choose", "load_speech", "open_recognizer",
    "clear_cache",
]

"""The ear: voice activity, the recogniser for the mode the coach is in, partial results and
barge-in, and what counts as the coach's own voice. It turns microphone frames into
:class:`Heard` utterances; the live loop (:mod:`voicecoach.live`) acts on them. The modes and
checks are described in docs/live.md."""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicecoach.asr.command import incomplete, says_barge
from voicecoach.audio import ASR_RATE
from voicecoach.trace import enabled as tracing
from voicecoach.trace import trace
from voicecoach.types import AudioChunk
from voicecoach.vad import FRAME, FRAME_SECONDS, Audio, End, Endpointer, Start, VoiceActivity

log = logging.getLogger(__name__)

SPECULATE_AFTER = 0.1
"""Seconds of pause after which a request's final decode starts in the background."""
COMPLETE_REQUEST_SILENCE = 0.25
"""Trailing silence that ends a request once the background decode says it is complete: a
non-crisis intent, like no crisis phrase, not unfinished ("i want to ..."). Anything else waits
the request silence (or longer)."""
COMPLETE_COMMAND_SILENCE = 0.2
"""Trailing silence that ends a command once its partial result is already a whole command."""
LONG_COMMAND = 1.2
"""Seconds of speech in command mode beyond which it is also decoded openly (crisis check)."""
DOUBLE_TALK_DB = 3.0
"""How much louder than the coach's own voice the microphone must be to count as the person."""
MIN_PERSON = 4
"""Frames of the person (see DOUBLE_TALK_DB) an utterance over the coach needs to be theirs."""
MIN_PERSON_CRISIS = 2
"""The same for a crisis statement: a lower bar (a miss costs more), but never none at all."""
CONFIRM_EVERY = 5
"""Frames (30 ms) between two open-recognition confirmations of a barge-in partial: a refused
"stop" is asked again once more of the word has been heard."""
SURE = 0.9
"""Match confidence a command needs while the coach speaks (its own voice blurs into near misses)."""
SECOND_READING = ("stop", "pause")
"""The interruptions a second reading of AEC3's own output may find (``Ear.suppressed``). Not
goodbye: whisper is known to write "bye" for faint sound, and goodbye ends the session."""
ENDS_SESSION = ("stop", "goodbye")
"""Commands after which a second reading has nothing left to find. After any other command the
loop acted on over the coach (pause, "soft" for quieter: near misses of a "stop" under the echo),
a stop in AEC3's own output is acted on as well."""
SECOND_READING_DB = -55.0
"""AEC3's own output over the utterance must reach this (loudest 30 ms, dBFS) to be read again:
the person's "stop" under the echo kept -30 to -24 there, the coach's voice alone -80 or less."""
OWN_CLEAR_DB = 20.0
"""AEC3's own output over an utterance must be this far over what it leaves of the coach's voice
(``Ear.own_residual``) to be taken as someone else's: before AEC3 has learnt the room its output
is the echo itself."""
SECOND_READING_PAD = 0.15
"""Seconds of AEC3's output read before the utterance's start and after its end."""
ECHO_TAIL = 0.6
"""Seconds after the coach's sound ends that the room may still carry it."""
ANSWER_TAIL = 0.2
"""The same after a question: an answer can come quickly, and is heard in its own mode."""

_WORDS = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower().replace("\u2019", "").replace("'", ""))


# --------------------------------------------------------------------------- what was heard


@dataclass(frozen=True)
class Heard:
    """A recognition result from the ear (times on the session clock)."""

    text: str
    final: bool
    mode: str
    start: float
    """When the speech began."""
    end: float
    """When the speech ended (final results), or the time of the partial."""
    at: float
    """When the endpoint was reached / the partial was read."""
    barge: bool = False
    """A partial command to act on now."""
    over_coach: bool = False
    """The utterance began while the coach was speaking."""
    person: int = 0
    """Frames louder than the coach's own voice could make them (someone else talking)."""
    alt: str = ""
    """For a long utterance heard in command mode: what open recognition made of it, so a
    crisis statement said over the coach is not lost to the closed phrase set."""
    decoded: float = 0.0
    """When the final transcript was ready (session clock; 0 when the ear has no clock)."""
    own_db: float | None = None
    """For a short utterance over the coach, when AEC3 cancels the echo and has learnt the room:
    the loudest 30 ms of AEC3's own output over it (dBFS), when it is someone else's (at least
    SECOND_READING_DB, and OWN_CLEAR_DB over what AEC3 leaves of the coach's voice, which is -80
    or less once it has learnt the room); otherwise None."""


@dataclass
class EarState:
    """What the loop tells the ear (written by the loop, read by the ear thread)."""

    mode: str = "request"
    speaking: bool = False
    unexpected: frozenset[str] = frozenset()
    """Command intents that mean nothing in the session's state now ("resume" while a session
    runs unpaused): command mode does not take a mis-hearing for one (CommandRecognizer)."""
    silence: dict[str, float] = field(default_factory=dict)


class Ear:
    """Voice activity, endpointing and recognition for one stream of 16 kHz audio.

    ``process(samples, t_end)`` takes the next samples and the session time at their end, and
    returns what was heard. ``is_command(text)`` says whether a partial is a command worth
    acting on at once (the loop gives it, with the echo check)."""

    def __init__(self, speech: Any, state: EarState, *, max_utterance: float = 15.0,
                 is_barge: Callable[[str, float, float], bool] | None = None,
                 complete: Callable[[str], bool] | None = None,
                 reference: Callable[[float, float], float] | None = None,
                 speculate: bool = False, clock: Callable[[], float] | None = None):
        self.speech = speech
        self.clock = clock
        """The session clock, to time-stamp when a final transcript is ready."""
        self.speculate = speculate
        """Start the final decode of a request or answer in the background as soon as the person
        pauses, so the reply does not wait for the decode after the endpoint (real time only)."""
        self._buf: list[np.ndarray] = []
        self._quiet = 0
        self._spec: tuple[int, Any] | None = None
        self._pool: Any = None  # a ThreadPoolExecutor, made on first use
        self.state = state
        self.is_barge = is_barge or (lambda text, t0, t1: False)
        self.complete = complete or (lambda text: False)
        self.endpointer = Endpointer(self._trailing, max_utterance=max_utterance)
        self.rec: Any = None  # the open recogniser (voicecoach.asr.Recognizer) during an utterance
        self.mode = "request"
        self._partial = ""
        self._same = 0
        self._barged = False
        self._barged_on = ""
        """The partial result the loop acted on at once (a barge-in), when it did."""
        self._frames = 0
        self._offset = 0.0
        self.reference = reference
        """Loudest 30 ms of what the speaker played over a span of session time (dBFS)."""
        self._coupling: deque[float] = deque(maxlen=300)
        self.coupling_db = 0.0
        """How loud the coach's own voice arrives at the microphone, relative to what was
        played (dB; learnt while it speaks)."""
        self._person = 0
        self._over = False
        self._recent: deque[np.ndarray] = deque(maxlen=6)
        self._confirm_after = 0
        """Frame count before which a refused barge-in is not confirmed again."""
        self._lead = 0
        """Frames of the person among the speech frames that opened the utterance."""
        self.cancelled = False
        """The microphone reaches the ear through an echo canceller (the loop sets it). Over the
        coach, its grammar's command then stands without open recognition's confirmation: after
        cancellation the echo no longer looks like the person (double talk), and whisper, which
        hears the canceller's residue, misreads a short "stop" ("top", "tough") too often."""
        self.suppressed: Callable[[float, float], np.ndarray] | None = None
        """AEC3's own output over a span of session time (the loop sets it when AEC3 cancels
        the echo): a second reading of a short utterance over the coach (:meth:`_read_again`)."""
        self.own_residual: Callable[[], float | None] = lambda: None
        """What AEC3's own output leaves of the coach's voice (dBFS; None until known): the loop
        sets it with :attr:`suppressed`."""
        self.acted_over_coach: Callable[[str], str | None] = lambda text: "crisis" if self.complete(text) else None
        """What the loop would act on in this text said over the coach: "crisis" (a crisis
        statement, or one the screen asks about: never read again), a sure command's intent, or
        None. The loop sets it; without it, any intent is taken as a crisis statement."""

    def _trailing(self) -> float:
        sil = self.state.silence
        base = sil.get(self.mode, 0.5)
        if self._partial and incomplete(self._partial):
            if self.mode == "request" and self._settled():
                # The grammar's partial lags ("help me reframe the"); the open decode heard a
                # whole request. In doubt: the full request silence, no shortcut.
                return base
            # "i want to ...": the rest may be a crisis statement; wait as for an answer.
            return max(base, sil.get("dictation", 1.2))
        if self.mode == "request" and self._settled():
            return min(base, COMPLETE_REQUEST_SILENCE)
        if self.mode == "request" and self._partial and self.complete(self._partial):
            return min(base, sil.get("command", 0.3))
        if self.mode == "command" and self._partial and self.complete(self._partial):
            # "stop" needs no long silence after it to be sure it was meant.
            return min(base, COMPLETE_COMMAND_SILENCE)
        return base

    def process(self, samples: np.ndarray, t_end: float) -> list[Heard]:
        out: list[Heard] = []
        self._learn_coupling(samples, t_end)
        events = self.endpointer.feed(samples)
        # Session time of ear time x: t_end - (ear.now - x).
        self._offset = t_end - self.endpointer.now
        for ev in events:
            if isinstance(ev, Start):
                self.mode = self.state.mode
                self.rec = self._recognizer()
                self.rec.start()
                self.rec.accept(AudioChunk(ASR_RATE, ev.audio))
                self._buf, self._quiet, self._spec = [ev.audio], 0, None
                self._partial, self._same, self._barged, self._frames = "", 0, False, 0
                self._confirm_after = 0
                self._start = ev.t + self._offset
                self._over, self._person = self.state.speaking, 0
                self._recent = deque(maxlen=6)
                self._lead = self._opening_person(ev.audio, ev.t + self._offset)
            elif isinstance(ev, Audio) and self.rec is not None:
                self._recent.append(ev.audio)
                person = ev.speech and self._double_talk(ev.audio, ev.t + self._offset)
                if self._over and tracing():  # the level is worked out only for the trace
                    trace("frame", ev.t + self._offset, speech=ev.speech, person=bool(person),
                          level=round(VoiceActivity.level_db(ev.audio), 1), coupling=round(self.coupling_db, 1))
                if person:
                    self._person += 1
                    if (self._over and self._person == 1 and not self._lead
                            and self._frames > len(self._recent)):
                        # Someone starts talking over the coach's own voice: hear them from
                        # here (a little before), not as the tail of a long echo. The echo
                        # is dropped undecoded (an open decode of it would delay the person).
                        cancel = getattr(self.rec, "cancel", None)
                        if cancel is not None:
                            cancel()
                        else:
                            self.rec.finish()
                        self.rec = self._recognizer()
                        self.rec.start()
                        self.rec.accept(AudioChunk(ASR_RATE, np.concatenate(list(self._recent))))
                        self._buf, self._quiet, self._spec = [np.concatenate(list(self._recent))], 0, None
                        self._partial, self._same = "", 0
                        self._start = ev.t + self._offset - len(self._recent) * FRAME_SECONDS
                        self._frames += 1
                        continue
                self.rec.accept(AudioChunk(ASR_RATE, ev.audio))
                self._buf.append(ev.audio)
                self._frames += 1
                self._maybe_speculate(ev.speech)
                every = 1 if self.mode == "command" else 3
                if self._frames % every == 0:
                    h = self._check_partial(ev.t + self._offset)
                    if h is not None:
                        out.append(h)
            elif isinstance(ev, End) and self.rec is not None:
                tr = self._speculated()
                if tr is None:
                    tr = self.rec.finish()
                self.rec = None
                own, own_db = None, None
                if self.mode == "command" and self._over:
                    own, level = self._own_output(ev.speech_end + self._offset)
                    own_db = level if self._someone_else(level) else None
                    again = self._read_again(tr, ev.speech_end + self._offset, own, level, own_db is not None)
                    if again is not tr:
                        self._barged = False  # a stop found under a barge-in already acted on: acted on too
                    tr = again
                self._spec = None
                alt = ""
                if self.mode == "command" and ev.speech_end - (self._start - self._offset) >= LONG_COMMAND:
                    # Commands are short; a sentence said over the coach may be a crisis
                    # statement the closed set can only approximate: hear it openly too.
                    try:
                        alt = self._decode("request", np.concatenate(self._buf)).text
                    except Exception as exc:  # noqa: BLE001 - the closed result still stands
                        log.warning("the open decode of a long utterance over the coach failed "
                                    "(its crisis check rests on the command result alone): %s", exc)
                        alt = ""
                out.append(Heard(tr.text, True, self.mode, self._start, ev.speech_end + self._offset,
                                 ev.t + self._offset, barge=self._barged, over_coach=self._over,
                                 person=self._person + self._lead, alt=alt,
                                 decoded=self.clock() if self.clock is not None else 0.0, own_db=own_db))
        return out

    def _own_output(self, end: float) -> tuple[np.ndarray | None, float | None]:
        """AEC3's own output over a short utterance (and SECOND_READING_PAD either side), with
        its loudest 30 ms (dBFS); (None, None) without AEC3, for a long utterance, or when the
        echo path cannot give it (logged)."""
        if self.suppressed is None or end - self._start > LONG_COMMAND:
            return None, None
        try:
            audio = self.suppressed(self._start - SECOND_READING_PAD, end + SECOND_READING_PAD)
        except Exception as exc:  # noqa: BLE001 - the echo path's own errors too; the first reading stands
            log.warning("the second reading of an utterance over the coach failed (the first stands): %s", exc)
            return None, None
        n = len(audio) // FRAME
        level = max((VoiceActivity.level_db(audio[i * FRAME : (i + 1) * FRAME]) for i in range(n)), default=-120.0)
        return audio, level

    def _someone_else(self, level: float | None) -> bool:
        """AEC3's own output at ``level`` (dBFS) holds more than the coach's voice: at least
        SECOND_READING_DB, and OWN_CLEAR_DB over what AEC3 leaves of it (known only once AEC3 has
        learnt the room)."""
        residual = self.own_residual()
        return level is not None and residual is not None and level >= max(SECOND_READING_DB, residual + OWN_CLEAR_DB)

    def _read_again(self, tr: Any, end: float, audio: np.ndarray | None, level: float | None,
                    someone_else: bool) -> Any:
        """A short utterance of the person's over the coach whose text is nothing the loop acts
        on ("tough", "time time", "uh" for "stop"): the same span is read again from AEC3's own
        output, and that reading is the result when it is an interruption the loop would act on
        (:data:`SECOND_READING`; the loop's sure match, not the coach's own words). One the loop
        acted on as a command other than stop or goodbye ("pause", "soft": near misses of a
        "stop" under the echo) is read again too, and only a stop is taken from that reading.

        In double talk the cleaned signal is AEC3's output below 3 kHz plus the linear
        canceller's above it, or the linear output whole (voicecoach/aec.py): in the simulated
        room that keeps a soft "stop" under the echo; in the real-audio room (PulseAudio, a
        loopback) it blurred it, and AEC3's output alone said "stop" (docs/live.md). A word is
        lost only when both readings lose it. It is read when the double-talk check counted the
        person's frames, or when AEC3's output over it holds more than the coach's voice
        (``someone_else``, :meth:`_someone_else`), however few frames were counted: AEC3's
        suppressor can leave 2-3 frames of a soft word above the coach's. Never when AEC3's
        output is fainter than :data:`SECOND_READING_DB`. A crisis statement, or one the screen asks about,
        is never read again, nor a stop or goodbye; nothing but stop or pause is taken from the
        second reading."""
        if audio is None or level is None or level < SECOND_READING_DB:
            return tr  # no AEC3, or nothing in its output but what the coach's voice leaves
        if self._person + self._lead < MIN_PERSON and not someone_else:
            return tr
        first = self._barged_on if self._barged else tr.text
        acted = self.acted_over_coach(first) if first else None
        if acted == "crisis" or acted in ENDS_SESSION or any(says_barge(first, i) for i in ENDS_SESSION):
            return tr
        wanted = SECOND_READING if acted is None and not says_barge(first) else ("stop",)
        t = time.perf_counter()
        try:
            again = self._decode(self.mode, audio)
        except Exception as exc:  # noqa: BLE001 - an engine library's own errors too; the first reading stands
            log.warning("the second reading of an utterance over the coach failed (the first stands): %s", exc)
            return tr
        # The loop's own reading of it (a sure match; the coach's own words are its to refuse),
        # said with an interruption's word: the matcher reads more as stop than a soft word
        # under the echo should be taken for. Not is_barge: after a pause the coach is quiet.
        again_acted = self.acted_over_coach(again.text) if again.text else None
        taken = again_acted in wanted and says_barge(again.text, again_acted)
        trace("read_again", end, text=again.text, first=first, acted=acted, taken=taken,
              seconds=time.perf_counter() - t)
        return again if taken else tr

    def _maybe_speculate(self, speech: bool) -> None:
        """Track the pause after speech; once it is SPECULATE_AFTER long, decode what was said so
        far on a worker. More speech afterwards makes that decode stale and it is dropped."""
        if speech:
            self._quiet = 0
            if self._spec is not None:
                self._spec[1].cancel()  # stale: the person went on (a decode under way finishes)
                self._spec = None
            return
        self._quiet += 1
        if (not self.speculate or self._spec is not None or self.mode == "command"
                or self._quiet * FRAME_SECONDS < SPECULATE_AFTER
                or getattr(self.speech.dictation, "name", "") != "whisper"):
            return  # streaming decoders have their result at the endpoint anyway
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode")
        audio = np.concatenate(self._buf)
        self._spec = (len(self._buf), self._pool.submit(self._decode_open, audio, self.mode, self.rec))

    def _settled(self) -> bool:
        """The background decode at this pause is done and its text alone is a complete request
        (:meth:`voicecoach.asr.RequestRecognizer.prepare_open`), with an intent the coach
        acts on and nothing unfinished about it."""
        if self._spec is None or not self._spec[1].done():
            return False
        try:
            _rec, tr, sure = self._spec[1].result()
        except Exception as exc:  # noqa: BLE001 - the ordinary decode at the endpoint reports it
            log.debug("the background decode at a pause failed: %s", exc)
            return False
        return sure and not incomplete(tr.text) and self.complete(tr.text)

    def _recognizer(self, mode: str | None = None) -> Any:
        """A recogniser for an utterance starting now, in ``mode`` (the ear's own by default),
        told which commands mean nothing in the session's state."""
        rec = self.speech.recognizer(mode or self.mode)
        if hasattr(rec, "unexpected"):
            rec.unexpected = self.state.unexpected
        return rec

    def _decode(self, mode: str, audio: np.ndarray):
        rec = self._recognizer(mode)
        rec.start()
        rec.accept(AudioChunk(ASR_RATE, audio))
        return rec.finish()

    def _decode_open(self, audio: np.ndarray, mode: str = "dictation", whole: Any = None):
        """Only the open half of a request (or a dictation answer): the closed grammar has been
        decoding along with the audio, so at the endpoint it finishes at once. For a request,
        the part of the decision that needs only this text is done here too (crisis phrases
        like it scored, the 30-s second opinion where it could change the decision), and the
        text's intent is matched once (the loop caches it): (recogniser, transcript, sure)."""
        rec = self.speech.dictation.recognizer(mode, self.speech.phrases)
        rec.start()
        rec.accept(AudioChunk(ASR_RATE, audio))
        tr = rec.finish()
        prepare = getattr(whole, "prepare_open", None)
        sure = bool(prepare(rec, tr)) if prepare is not None else False
        if tr.text:
            self.complete(tr.text)
        return rec, tr, sure

    def _speculated(self):
        """The final transcript from the background decode, if it heard everything that was
        said; None to decode the ordinary way."""
        if self._spec is None:
            return None
        _, fut = self._spec
        try:
            open_rec, tr, _sure = fut.result(timeout=30)
            finish_open = getattr(self.rec, "finish_open", None)
            if finish_open is not None:
                return finish_open(open_rec, tr)
            if self.mode == "dictation" and self.speech.engine_for("dictation") == getattr(self.rec, "engine", None):
                return tr
            return None
        except Exception as exc:  # noqa: BLE001 - fall back to the ordinary decode
            log.debug("the background decode failed, decoding at the endpoint: %s", exc)
            return None

    def _opening_person(self, audio: np.ndarray, t: float) -> int:
        """Frames of the person (see _double_talk) among the speech frames that opened an
        utterance (the last ``start_frames`` of its pre-roll, ending at session time ``t`` plus
        their length). A short word ("stop") has only a handful of voiced frames; not counting
        the first ones left the person's own "stop" refused as the coach's voice."""
        n = FRAME
        k = min(self.endpointer.start_frames, len(audio) // n)
        frames = [audio[len(audio) - (k - j) * n : len(audio) - (k - j - 1) * n] for j in range(k)]
        return sum(self._double_talk(f, t + (j + 1) * FRAME_SECONDS) for j, f in enumerate(frames))

    def _double_talk(self, frame: np.ndarray, t: float) -> bool:
        """Is someone besides the coach talking in this frame? True when the microphone is
        louder than the loudest the coach's voice (played over the last 350 ms, to cover the
        delay through the room) has been arriving, by a margin."""
        if self.reference is None:
            return True
        mic = VoiceActivity.level_db(frame)
        ref = self.reference(t - 0.35, t + 0.03)
        if ref < -50.0:
            return True
        return mic > ref + self.coupling_db + DOUBLE_TALK_DB

    def _learn_coupling(self, samples: np.ndarray, t: float) -> None:
        """Every block heard while the coach speaks (speech or not) teaches how loud its voice
        comes back; the person talking over it is rare enough not to move the 90th percentile."""
        if self.reference is None or samples.size == 0:
            return
        ref = self.reference(t - 0.35, t)
        if ref > -45.0:
            self._coupling.append(VoiceActivity.level_db(samples) - ref)
            if len(self._coupling) >= 20:
                self.coupling_db = float(np.percentile(self._coupling, 90))

    def _check_partial(self, t: float) -> Heard | None:
        p = self.rec.partial().text
        if not p:
            return None
        self._same = self._same + 1 if p == self._partial else 1
        changed = p != self._partial
        self._partial = p
        person_ok = not self._over or self._person + self._lead >= MIN_PERSON
        trace("partial", t, text=p, same=self._same, person=self._person, lead=self._lead, over=self._over)
        if (self.mode == "command" and not self._barged and self._same >= 2 and person_ok
                and self._frames >= self._confirm_after and self.is_barge(p, self._start, t)):
            confirm = None if (self._over and self.cancelled) else getattr(self.rec, "confirm", None)
            if confirm is not None:
                # The grammar forces any speech (the coach's own too) onto some phrase: open
                # recognition of the last moment must hear a command as well.
                p = confirm().text
                if not (says_barge(p) and self.is_barge(p, self._start, t)):
                    self._confirm_after = self._frames + CONFIRM_EVERY
                    return None
            self._barged, self._barged_on = True, p
            trace("barge", t, text=p, person=self._person, lead=self._lead, start=self._start)
            return Heard(p, False, self.mode, self._start, t, t, barge=True)
        if changed:
            return Heard(p, False, self.mode, self._start, t, t)
        return None

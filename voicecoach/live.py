"""The hands-free loop: microphone → voice activity → recogniser → coach → speech.

Threads and clocks
------------------
One *session clock* (seconds; 0 = the moment the input starts) drives everything: the coach's
deadlines, the cues played, and the WAV of what the coach said.

- Real time (a microphone, or ``--input`` files at real-time pace): the session clock is
  ``time.monotonic() - t0``. An *ear* thread reads the source, runs voice-activity detection and
  the recogniser, and posts what it heard on a queue; the main thread waits on that queue no
  longer than the next cue or deadline, so a slow decode never pushes a breath off its beat.
- Virtual time (``--fast``): no threads. Each 30 ms chunk advances the clock; deadlines falling
  inside the chunk are handled at their exact times first, then the chunk is heard.

What it hears, and how
----------------------
The recognition mode is chosen when an utterance starts: ``command`` while the coach is speaking
(and for a moment after, when the tail of its voice is still in the room), the listening step's
mode when the coach has asked something (``dictation`` for an open answer, ``command`` for a
rating or a choice), else ``request``. The trailing silence that ends an utterance follows the
mode (config ``audio.*_silence``), shortened to the command silence once the partial result is
already a complete request, so a reply starts soon after the person stops.

In command mode the partial result is checked every frame: "stop" (and pause, goodbye, and any
crisis phrase) is acted on as soon as it is heard twice in a row, not at the end of speech. A
command whose words are all words the coach was saying at that moment is its own voice, and is
ignored: the coach never takes itself for the person.

Faults (no microphone, unplugged, overflow, speech output failing) print one line and speak
nothing new; the session state is kept, and the microphone is tried again every second until it
is back.
"""

from __future__ import annotations

import queue
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from voicecoach.aec import EchoPath, PlayedReference, RoomEcho, make_canceller
from voicecoach.asr.command import incomplete, says_barge
from voicecoach.audio import ASR_RATE, resample, to_mono
from voicecoach.coach import Coach, Show
from voicecoach.engine import Ended, Hush, Speak, StepStarted
from voicecoach.errors import AudioError, VoicecoachError
from voicecoach.mic import MicError, Source
from voicecoach.player import RecordingPlayer
from voicecoach.session import cut
from voicecoach.types import AudioChunk, Cue
from voicecoach.vad import FRAME_SECONDS, Audio, End, Endpointer, Start, VoiceActivity

SPECULATE_AFTER = 0.1
"""Seconds of pause after which a request's final decode starts in the background."""
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
ECHO_TAIL = 0.6
"""Seconds after the coach's sound ends that the room may still carry it."""
ANSWER_TAIL = 0.2
"""The same after a question: an answer can come quickly, and is heard in its own mode."""
RETRY_SECONDS = 1.0

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


@dataclass
class EarState:
    """What the loop tells the ear (written by the loop, read by the ear thread)."""

    mode: str = "request"
    speaking: bool = False
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
        self._pool = None
        self.state = state
        self.is_barge = is_barge or (lambda text, t0, t1: False)
        self.complete = complete or (lambda text: False)
        self.endpointer = Endpointer(self._trailing, max_utterance=max_utterance)
        self.rec = None
        self.mode = "request"
        self._partial = ""
        self._same = 0
        self._barged = False
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

    def _trailing(self) -> float:
        sil = self.state.silence
        base = sil.get(self.mode, 0.5)
        if self._partial and incomplete(self._partial):
            # "i want to ...": the rest may be a crisis statement; wait as for an answer.
            return max(base, sil.get("dictation", 1.2))
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
                self.rec = self.speech.recognizer(self.mode)
                self.rec.start()
                self.rec.accept(AudioChunk(ASR_RATE, ev.audio))
                self._buf, self._quiet, self._spec = [ev.audio], 0, None
                self._partial, self._same, self._barged, self._frames = "", 0, False, 0
                self._confirm_after = 0
                self._start = ev.t + self._offset
                self._over, self._person = self.state.speaking, 0
                self._recent = deque(maxlen=6)
            elif isinstance(ev, Audio) and self.rec is not None:
                self._recent.append(ev.audio)
                if ev.speech and self._double_talk(ev.audio, ev.t + self._offset):
                    self._person += 1
                    if self._over and self._person == 1 and self._frames > len(self._recent):
                        # Someone starts talking over the coach's own voice: hear them from
                        # here (a little before), not as the tail of a long echo. The echo
                        # is dropped undecoded (an open decode of it would delay the person).
                        cancel = getattr(self.rec, "cancel", None)
                        if cancel is not None:
                            cancel()
                        else:
                            self.rec.finish()
                        self.rec = self.speech.recognizer(self.mode)
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
                self._spec = None
                alt = ""
                if self.mode == "command" and ev.speech_end - (self._start - self._offset) >= LONG_COMMAND:
                    # Commands are short; a sentence said over the coach may be a crisis
                    # statement the closed set can only approximate: hear it openly too.
                    try:
                        alt = self._decode("request", np.concatenate(self._buf)).text
                    except Exception:  # noqa: BLE001 - the closed result still stands
                        alt = ""
                out.append(Heard(tr.text, True, self.mode, self._start, ev.speech_end + self._offset,
                                 ev.t + self._offset, barge=self._barged, over_coach=self._over,
                                 person=self._person, alt=alt,
                                 decoded=self.clock() if self.clock is not None else 0.0))
        return out

    def _maybe_speculate(self, speech: bool) -> None:
        """Track the pause after speech; once it is SPECULATE_AFTER long, decode what was said so
        far on a worker. More speech afterwards makes that decode stale and it is dropped."""
        if speech:
            self._quiet = 0
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
        self._spec = (len(self._buf), self._pool.submit(self._decode_open, audio, self.mode))

    def _decode(self, mode: str, audio: np.ndarray):
        rec = self.speech.recognizer(mode)
        rec.start()
        rec.accept(AudioChunk(ASR_RATE, audio))
        return rec.finish()

    def _decode_open(self, audio: np.ndarray, mode: str = "dictation"):
        """Only the open half of a request (or a dictation answer): the closed grammar has been
        decoding along with the audio, so at the endpoint it finishes at once."""
        rec = self.speech.dictation.recognizer(mode, self.speech.phrases)
        rec.start()
        rec.accept(AudioChunk(ASR_RATE, audio))
        return rec, rec.finish()

    def _speculated(self):
        """The final transcript from the background decode, if it heard everything that was
        said; None to decode the ordinary way."""
        if self._spec is None:
            return None
        _, fut = self._spec
        try:
            open_rec, tr = fut.result(timeout=30)
            finish_open = getattr(self.rec, "finish_open", None)
            if finish_open is not None:
                return finish_open(open_rec, tr)
            if self.mode == "dictation" and self.speech.engine_for("dictation") == getattr(self.rec, "engine", None):
                return tr
            return None
        except Exception:  # noqa: BLE001 - fall back to the ordinary decode
            return None

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
        person_ok = not self._over or self._person >= MIN_PERSON
        if (self.mode == "command" and not self._barged and self._same >= 2 and person_ok
                and self._frames >= self._confirm_after and self.is_barge(p, self._start, t)):
            confirm = getattr(self.rec, "confirm", None)
            if confirm is not None:
                # The grammar forces any speech (the coach's own too) onto some phrase: open
                # recognition of the last moment must hear a command as well.
                p = confirm().text
                if not (says_barge(p) and self.is_barge(p, self._start, t)):
                    self._confirm_after = self._frames + CONFIRM_EVERY
                    return None
            self._barged = True
            return Heard(p, False, self.mode, self._start, t, t, barge=True)
        if changed:
            return Heard(p, False, self.mode, self._start, t, t)
        return None


# --------------------------------------------------------------------------- the speaker


class TapePlayer(RecordingPlayer):
    """Every cue on the session clock (for the output WAV, the echo check and a simulated room),
    passed on to a real speaker when there is one. A speaker that fails is reported once and
    tried again; the session goes on in print."""

    def __init__(self, clock: Callable[[], float], inner: Any = None,
                 notice: Callable[[str], None] | None = None):
        super().__init__(clock)
        self.inner = inner
        self.notice = notice or (lambda msg: None)
        self._failed_at: float | None = None
        self._asr: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def play(self, chunk: AudioChunk, text: str | None = None) -> None:
        super().play(chunk, text)
        if self.inner is None:
            return
        if self._failed_at is not None:
            if time.monotonic() - self._failed_at < RETRY_SECONDS:
                return
            try:
                self.inner.reopen()
            except (AudioError, AttributeError):
                self._failed_at = time.monotonic()
                return
            self._failed_at = None
            self.notice("the speaker is back")
        try:
            self.inner.play(chunk, text)
        except AudioError as exc:
            self._failed_at = time.monotonic()
            self.notice(f"{exc}; I'll print what I say until it is back")

    def stop(self) -> None:
        if self.inner is not None:
            self.inner.stop()
        super().stop()

    def close(self) -> None:
        super().close()
        if self.inner is not None:
            self.inner.close()

    def at_16k(self, chunk: AudioChunk) -> np.ndarray:
        hit = self._asr.get(id(chunk.samples))
        if hit is not None and hit[0] is chunk.samples:
            return hit[1]
        x = resample(to_mono(chunk), ASR_RATE).samples
        self._asr[id(chunk.samples)] = (chunk.samples, x)
        return x

    def window(self, t0: float, n: int) -> np.ndarray:
        """What the speaker put into the room over ``n`` samples from session time ``t0``
        (16 kHz): the simulated echo for a file microphone."""
        out = np.zeros(n, np.int32)
        t1 = t0 + n / ASR_RATE
        for p in self.played[-4:]:
            if p.end <= t0 or p.start >= t1:
                continue
            x = self.at_16k(p.chunk)
            i0 = int(round((t0 - p.start) * ASR_RATE))
            stop = int(round((p.end - p.start) * ASR_RATE))
            a = max(0, i0)
            b = min(len(x), stop, i0 + n)
            if b > a:
                out[a - i0 : b - i0] += x[a:b]
        return np.clip(out, -32768, 32767).astype(np.int16)

    def level_db(self, t0: float, t1: float) -> float:
        """The loudest 30 ms frame played between session times t0 and t1 (dBFS; -120 when
        silent)."""
        if not self.played or self.played[-1].end <= t0 and all(p.end <= t0 for p in self.played[-3:]):
            return -120.0
        x = self.window(t0, max(1, int(round((t1 - t0) * ASR_RATE))))
        n = len(x) // 480
        if n == 0:
            return VoiceActivity.level_db(x)
        frames = x[: n * 480].astype(np.float64).reshape(n, 480)
        r = float(np.sqrt(np.mean(frames**2, axis=1)).max())
        return 20.0 * np.log10(r / 32768.0) if r > 0 else -120.0

    def mix(self, seconds: float, rate: int = ASR_RATE) -> np.ndarray:
        """The whole output on the session clock, ``seconds`` long, at ``rate``."""
        n = max(0, int(round(seconds * rate)))
        out = np.zeros(n, np.int32)
        for p in self.played:
            x = resample(to_mono(p.chunk), rate).samples
            i = int(round(p.start * rate))
            m = min(len(x), int(round((p.end - p.start) * rate)), n - i)
            if i < 0 or m <= 0:
                continue
            out[i : i + m] += x[:m]
        return np.clip(out, -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------- the display


PHASE_LABEL = {"inhale": "breathe in", "hold_in": "hold", "exhale": "breathe out", "hold_out": "hold"}


class Display:
    """What the person sees. Plain lines when stdout is not a terminal; on a terminal a live
    panel (rich) refreshed by rich's own thread, so the loop only sets fields."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None, clock: Callable[[], float] | None = None,
                 quiet: bool = False):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.clock = clock or time.monotonic
        if live is None:
            live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live = live and not quiet
        self.partial = ""
        self.heard = ""
        self.coach_text = ""
        self.step = ""
        self.phase: str | None = None
        self.phase_start = 0.0
        self.phase_len = 4.0
        self.phase_secs: dict[str, float] = {}
        self.notices: list[str] = []
        self.lines: list[str] = []
        """Every line written, for tests and the demo's transcript."""
        self._live = None
        if self.live:
            try:
                from rich.console import Console
                from rich.live import Live

                self._console = Console(file=self.stream)
                self._live = Live(self, console=self._console, refresh_per_second=8, transient=False)
                self._live.start()
            except Exception:  # noqa: BLE001 - never let the display stop the session
                self._live = None
                self.live = False

    # called by the loop
    def line(self, text: str) -> None:
        self.lines.append(text)
        if self.quiet:
            return
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
            return
        try:
            print(text, file=self.stream, flush=True)
        except BrokenPipeError:
            pass

    def show_partial(self, text: str) -> None:
        self.partial = text

    def show_heard(self, text: str, note: str = "") -> None:
        self.partial = ""
        self.heard = text
        self.line(f"heard: {text}{note}" if text else f"heard: (nothing clear){note}")

    def show_speak(self, cue: Cue, now: float) -> None:
        self.coach_text = cue.text
        if cue.phase:
            if cue.phase != self.phase:
                self.phase, self.phase_start = cue.phase, now
                self.phase_len = self.phase_secs.get(cue.phase, 4.0)
            self.line(f"coach: {cue.text}  [{PHASE_LABEL.get(cue.phase, cue.phase)}]")
        else:
            self.phase = None
            self.line(f"coach: {cue.text}")

    def show_step(self, step: Any, label: str) -> None:
        self.step = label
        self.phase_secs = {}
        for p in getattr(step, "phases", ()) or ():
            try:
                self.phase_secs[str(getattr(p, "name", ""))] = float(getattr(p, "seconds", 4.0))
            except (TypeError, ValueError):
                pass

    def notice(self, text: str) -> None:
        self.notices.append(text)
        self.line(f"voicecoach: {text}")

    def close(self) -> None:
        if self._live is not None:
            try:
                self._live.stop()
            except Exception:  # noqa: BLE001
                pass
            self._live = None

    # rich calls this from its refresh thread
    def __rich__(self):
        from rich.text import Text

        t = Text()
        if self.step:
            t.append(f"step: {self.step}\n", style="bold")
        t.append(self.pacer() + "\n")
        t.append(f"hearing: {self.partial}" if self.partial else "listening…", style="dim")
        return t

    def pacer(self, width: int = 30) -> str:
        """A bar that fills on the in-breath, stays on a hold, and empties on the out-breath."""
        if self.phase is None:
            return ""
        frac = min(1.0, max(0.0, (self.clock() - self.phase_start) / max(0.1, self.phase_len)))
        level = {"inhale": frac, "hold_in": 1.0, "exhale": 1.0 - frac, "hold_out": 0.0}.get(self.phase, 0.0)
        n = int(round(level * width))
        return f"{PHASE_LABEL.get(self.phase, self.phase):<12} [{'█' * n}{' ' * (width - n)}]"


# --------------------------------------------------------------------------- the loop


@dataclass
class LiveResult:
    seconds: float
    """Session time at the end."""
    heard: list[Heard]
    """Every final result (and acted-on partial)."""
    hushes: list[float]
    """Session times the coach was silenced."""
    ignored_echo: list[str]
    """What was heard and ignored as the coach's own voice."""


class LiveLoop:
    """Runs a Coach from a microphone source. See the module docstring."""

    def __init__(self, coach: Coach, voice: Any, speech: Any, source: Source, *, speaker: Any = None,
                 display: Display | None = None, silences: dict[str, float] | None = None,
                 max_utterance: float = 15.0, wake_phrase: str | None = None, room_echo: float = 0.0,
                 echo_cancel: str = "auto", room: tuple[float, float] | None = None):
        self.coach = coach
        self.voice = voice
        self.speech = speech
        self.source = source
        self.fast = not source.realtime
        self._vt = 0.0
        self._t0 = time.monotonic()
        self.display = display or Display(live=False, quiet=True)
        self.display.clock = self.now
        self.player = TapePlayer(self.now, speaker, self.display.notice)
        self.silences = {"command": 0.3, "request": 0.5, "dictation": 1.2}
        self.silences.update(silences or {})
        self.state = EarState(mode="request", silence=self.silences)
        self.idle_mode = "request"
        """The mode for a new request. With pocketsphinx alone, its open decoder is too weak
        for requests, so the closed phrase set (which holds the short requests) hears them."""
        try:
            if speech.engine_for("request") == "pocketsphinx":
                self.idle_mode = "command"
        except (AttributeError, VoicecoachError):
            pass
        self.ear = Ear(speech, self.state, max_utterance=max_utterance, is_barge=self._is_barge,
                       complete=self._complete, reference=self.player.level_db,
                       speculate=source.realtime, clock=self.now)
        self.wake = " ".join(words(wake_phrase)) if wake_phrase else None
        self.room_echo = room_echo
        """Tests: how much of the coach's own voice a file microphone picks up (no delay, no
        reverb)."""
        self.room = RoomEcho(self.player.window, *room) if room is not None else None
        """``--echo-gain-db/--echo-delay-ms``: a simulated room between the speaker and a file
        microphone (voicecoach/aec.py)."""
        canceller, note = make_canceller(echo_cancel)
        reference = self.player.window
        if not self.fast and hasattr(speaker, "tap"):
            reference = PlayedReference(speaker, self.now, self.player.at_16k, self.player.window)
        self.echo = EchoPath(reference, canceller) if canceller is not None else None
        """Echo cancellation with the played audio as the reference; VAD, barge-in and
        recognition hear its output."""
        if note:
            self.display.notice(note)
        self._pending: list[Speak] = []
        self._events: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.heard: list[Heard] = []
        self.hushes: list[float] = []
        self.ignored: list[str] = []
        self._mic_down: str | None = None
        self._barged_until = -1.0
        self._matches: dict[tuple[str, bool, bool], Any] = {}
        matcher = coach.matcher
        self._barge_in = matcher.acting("barge_in") if matcher is not None else frozenset()
        """Intents acted on from a partial result, before the person has finished the word."""
        self._while_speaking = matcher.acting("while_speaking") if matcher is not None else frozenset()
        """Intents taken while the coach is speaking (with crisis statements, always)."""
        self.timings: list[dict[str, Any]] = []
        """Per final result acted on (session clock): ``end`` of speech, ``endpoint``,
        ``decoded``, ``matched``, and for the first cue after it ``synth_start``,
        ``synth_end``, ``played`` (``scripts/bench_live.py`` splits the reply time with them)."""
        self._timing: dict[str, Any] | None = None

    # -- clocks

    def now(self) -> float:
        return self._vt if self.fast else time.monotonic() - self._t0

    def request_stop(self) -> None:
        """End the loop at the next chance (SIGINT/SIGTERM, a test)."""
        self._stop.set()

    # -- the mode the ear should use for an utterance starting now

    def _speaking(self, now: float) -> bool:
        if self._pending and self._pending[0].cue.t <= now + 0.05:
            return True
        until = self.player.playing_until
        if until is not None and until > now:
            return True
        last = self.player.played[-1] if self.player.played else None
        tail = ECHO_TAIL if self.coach.listening is None else ANSWER_TAIL
        return last is not None and now - last.end < tail

    def quiet_for(self) -> float:
        """Seconds since the coach last made a sound (0 while it speaks or a cue is due)."""
        now = self.now()
        if self._pending and self._pending[0].cue.t <= now + 0.05:
            return 0.0
        until = self.player.playing_until
        if until is not None and until > now:
            return 0.0
        last = self.player.played[-1].end if self.player.played else 0.0
        return max(0.0, now - last)

    def _publish(self) -> None:
        now = self.now()
        lst = self.coach.listening
        self.state.speaking = self._speaking(now)
        if self.state.speaking:
            self.state.mode = "command"
        elif lst is not None:
            self.state.mode = lst.mode if lst.mode in ("dictation", "command") else "dictation"
        else:
            self.state.mode = self.idle_mode

    # -- echo: is this the coach's own voice?

    def is_echo(self, text: str, t0: float, t1: float) -> bool:
        heard = [w for w in words(text) if w not in ("uh", "um")]
        if not heard:
            return False
        spoken: set[str] = set()
        for s in self.player.spoken_between(t0 - 0.5, t1 + 0.1):
            spoken.update(words(s.text or ""))
        return bool(spoken) and all(w in spoken for w in heard)

    def _is_barge(self, text: str, t0: float, t1: float) -> bool:
        if not self._speaking(self.now()):
            return False
        m = self._match(text)
        # Crisis statements wait for the end of speech (a one-word partial is not one).
        if incomplete(text) or m is None or m.crisis or m.name not in self._barge_in or m.confidence < SURE:
            return False
        return not self.is_echo(text, t0, t1)

    def _is_crisis_clear(self, text: str) -> bool:
        """A crisis statement the coach has not been saying itself: heard even when the
        double-talk check is unsure (a false alarm costs a gentle question; a miss costs more)."""
        m = self._match(text)
        return m is not None and m.crisis and not self.is_echo(text, 0.0, self.now()) and len(words(text)) >= 3

    def _complete(self, text: str) -> bool:
        if incomplete(text):
            return False
        m = self._match(text)
        return m is not None and (m.crisis or m.name is not None)

    def _match(self, text: str):
        """The intent of ``text`` in the coach's current state. Cached: the endpointer asks about
        the same partial result at every 30 ms frame, and the ear must keep up with the audio."""
        key = (text, self.coach.engine is not None, self.coach.listening is not None)
        if key in self._matches:
            return self._matches[key]
        try:
            m = self.coach.match(text)
        except VoicecoachError:
            m = None
        if len(self._matches) > 256:
            self._matches.clear()
        self._matches[key] = m
        return m

    # -- running

    def run(self, first: list[Any], *, max_seconds: float | None = None) -> LiveResult:
        try:
            self._t0 = time.monotonic()
            self._do(first)
            if self.fast:
                self._run_fast(max_seconds)
            else:
                self._run_realtime(max_seconds)
        finally:
            self.coach.close("interrupted")
            self._stop.set()
        return LiveResult(self.now(), list(self.heard), list(self.hushes), list(self.ignored))

    def _done(self) -> bool:
        return (self.source.finished and self.coach.idle and not self._pending
                and not self.player.busy and self.ear.rec is None)

    def _run_fast(self, max_seconds: float | None) -> None:
        dt = FRAME_SECONDS
        while not self._stop.is_set():
            if max_seconds is not None and self._vt >= max_seconds:
                break
            if self._done():
                break
            end = self._vt + dt
            self._due(end)
            self._publish()
            samples = self._read_fast(dt)
            self._vt = end
            if samples is None:
                continue
            try:
                heard = self.ear.process(self._mic_in(samples, end), end)
            except Exception as exc:  # noqa: BLE001 - an engine library's own errors too
                self._ear_failed(exc)
                continue
            for h in heard:
                self._on_heard(h)

    def _mic_in(self, samples: np.ndarray, t_end: float) -> np.ndarray:
        """Microphone samples as the ear should hear them: the simulated room's echo added (file
        inputs), then the coach's own voice cancelled."""
        if self.room_echo:
            echo = self.player.window(t_end - len(samples) / ASR_RATE, len(samples))
            samples = np.clip(samples.astype(np.int32) + (echo * self.room_echo).astype(np.int32),
                              -32768, 32767).astype(np.int16)
        if self.room is not None:
            samples = self.room.add(samples, t_end)
        if self.echo is not None:
            samples = self.echo.process(samples, t_end)
        return samples

    def _ear_failed(self, exc: BaseException) -> None:
        """A recogniser failed mid-utterance: that utterance is lost, listening goes on."""
        self.display.notice(f"could not recognise that: {exc}")
        self.ear.rec = None
        self.ear.endpointer.reset()

    def _due(self, until: float) -> None:
        """Virtual time: handle every deadline and cue up to ``until`` at its own time."""
        while True:
            times = []
            d = self.coach.next_deadline
            if d is not None:
                times.append(d)
            if self._pending:
                times.append(self._pending[0].cue.t)
            if not times or min(times) > until:
                return
            self._vt = max(self._vt, min(times))
            self._do(self.coach.tick(self._vt))
            self._play_due()

    def _read_fast(self, dt: float) -> np.ndarray | None:
        try:
            if self._mic_down is not None:
                self.source.start()
                self._mic_back()
            return self.source.read(0.0)
        except MicError as exc:
            self._mic_fault(str(exc))
            # A dead microphone in virtual time: let a retry interval pass.
            self._vt += max(0.0, RETRY_SECONDS - dt)
            self._due(self._vt)
            return None

    def _mic_fault(self, message: str) -> None:
        if self._mic_down is None:
            self._mic_down = message
            self.display.notice(f"{message}. I'm still here; I'll keep going and listen again when it's back.")
            self.ear.endpointer.reset()
            self.ear.rec = None

    def _mic_back(self) -> None:
        if self._mic_down is not None:
            self._mic_down = None
            self.display.notice("the microphone is back; I'm listening.")

    def _run_realtime(self, max_seconds: float | None) -> None:
        ear = threading.Thread(target=self._ear_thread, name="ear", daemon=True)
        ear.start()
        try:
            while not self._stop.is_set():
                now = self.now()
                if max_seconds is not None and now >= max_seconds:
                    break
                self._play_due()
                if self._done() and self._events.empty():
                    break
                self._publish()
                wait = 0.05
                d = self.coach.next_deadline
                if self._pending:
                    d = self._pending[0].cue.t if d is None else min(d, self._pending[0].cue.t)
                if d is not None:
                    wait = min(wait, max(0.0, d - now))
                try:
                    item = self._events.get(timeout=wait)
                except queue.Empty:
                    item = None
                if isinstance(item, Heard):
                    self._on_heard(item)
                elif isinstance(item, str):
                    self.display.notice(item)
                self._do(self.coach.tick(self.now()))
        finally:
            self._stop.set()
            ear.join(timeout=2.0)

    def _ear_thread(self) -> None:
        src = self.source
        down = False
        try:
            src.start()
        except MicError as exc:
            down = True
            self._mic_down = str(exc)
            self._events.put(f"{exc}. I'll keep trying; say something when it's connected.")
        while not self._stop.is_set():
            try:
                if down:
                    src.start()
                    down = False
                    self._events.put("the microphone is back; I'm listening.")
                    self._mic_down = None
                samples = src.read(0.1)
            except MicError as exc:
                if not down:
                    down = True
                    self._mic_down = str(exc)
                    self._events.put(f"{exc}. I'm still here; I'll keep going and listen again when it's back.")
                    self.ear.endpointer.reset()
                    self.ear.rec = None
                self._stop.wait(RETRY_SECONDS)
                continue
            if samples is None or samples.size == 0:
                continue
            try:
                now = self.now()
                for h in self.ear.process(self._mic_in(samples, now), now):
                    self._events.put(h)
            except Exception as exc:  # noqa: BLE001 - an engine library's own errors too
                self._events.put(f"could not recognise that: {exc}")
                self.ear.rec = None
                self.ear.endpointer.reset()

    # -- acting

    def _on_heard(self, h: Heard) -> None:
        now = self.now()
        if not h.final:
            if h.barge:
                self.heard.append(h)
                self.display.show_heard(h.text, "  (acting on it now)")
                self._hear(now, h.text, speaking=True)
            else:
                self.display.show_partial(h.text)
            return
        if h.alt and h.alt != h.text and self._alt_crisis(h):
            return
        if not h.text:
            self.display.show_partial("")
            return
        if h.barge:
            # Already acted on from its partial: only a crisis statement in the rest counts.
            m = self._match(h.text)
            if m is not None and m.crisis:
                self.heard.append(h)
                self.display.show_heard(h.text)
                self._hear(now, h.text, speaking=True)
            return
        self.heard.append(h)
        if h.over_coach and (h.person < MIN_PERSON_CRISIS or (h.person < MIN_PERSON and not self._is_crisis_clear(h.text))):
            self.ignored.append(h.text)
            self.display.show_heard(h.text, "  (my own voice: ignored)")
            return
        if h.mode == "command" and self.is_echo(h.text, h.start, h.end):
            self.ignored.append(h.text)
            self.display.show_heard(h.text, "  (my own voice: ignored)")
            return
        text = h.text
        if self.wake and self.coach.listening is None and self.coach.engine is None:
            w = words(text)
            n = len(self.wake.split())
            if " ".join(w[:n]) != self.wake:
                m = self._match(text)
                if not (m is not None and m.crisis):
                    self.display.show_heard(text, "  (no wake phrase)")
                    return
            else:
                text = " ".join(w[n:])
        self.display.show_heard(text)
        speaking = h.mode == "command" and self._speaking(now) and self.coach.listening is None
        self._hear(now, text, speaking=speaking, h=h)

    def _alt_crisis(self, h: Heard) -> bool:
        """A crisis statement that open recognition heard in a long command-mode utterance (the
        person talking over the coach): act on it, unless it is the coach's own voice."""
        m = self._match(h.alt)
        if m is None or not m.crisis:
            return False
        if h.over_coach and h.person < MIN_PERSON_CRISIS:
            return False
        if self.is_echo(h.alt, h.start, h.end):
            return False
        self.heard.append(h)
        self.display.show_heard(h.alt)
        self._hear(self.now(), h.alt, speaking=True)
        return True

    def _hear(self, now: float, text: str, speaking: bool, h: Heard | None = None) -> None:
        m = self._match(text)
        if m is not None and not m.crisis and m.name in self._while_speaking and incomplete(text):
            # Cut off mid-sentence ("i want to"): never a control command.
            self.ignored.append(text)
            self.display.show_heard(text, "  (unfinished: ignored)")
            return
        if speaking and m is not None and not m.crisis and (m.name not in self._while_speaking or m.confidence < SURE):
            return
        _, actions = self.coach.hear(now, text, speaking=speaking, match=m)
        if h is not None:
            self._timing = {"text": text, "end": h.end, "endpoint": h.at, "decoded": h.decoded,
                            "received": now, "matched": self.now()}
            self.timings.append(self._timing)
        self._do(actions)

    def _do(self, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, Speak):
                self._pending.append(a)
            elif isinstance(a, Hush):
                self._pending.clear()
                if self.player.busy:
                    self.hushes.append(self.now())
                self.player.stop()
            elif isinstance(a, StepStarted):
                self.display.show_step(a.step, a.label)
            elif isinstance(a, Show):
                if a.text:
                    self.display.line(f"*** {a.text} ***" if a.kind == "resources" else a.text)
            elif isinstance(a, Ended):
                self.display.line(f"  · session {a.status}")
                if a.status != "completed" and self.player.busy:
                    self.hushes.append(self.now())
                    self.player.stop()
                    self._pending.clear()
        self._pending.sort(key=lambda s: s.cue.t)
        self._play_due()

    def _play_due(self) -> None:
        now = self.now()
        while self._pending and self._pending[0].cue.t <= now + 0.002:
            sp = self._pending.pop(0)
            t0 = self.now()
            try:
                chunk = self.voice.synthesize(sp.cue.text, sp.settings)
            except VoicecoachError as exc:
                self.display.notice(f"could not speak: {exc}")
                continue
            t1 = self.now()
            self.player.play(cut(chunk, sp.cue), sp.cue.text)
            if self._timing is not None:
                self._timing.update(synth_start=t0, synth_end=t1, played=self.now(), cue=sp.cue.text)
                self._timing = None
            self.display.show_speak(sp.cue, now)


def write_output(path, player: TapePlayer, seconds: float, extra: np.ndarray | None = None,
                 rate: int = ASR_RATE) -> None:
    """The coach's speech (plus ``extra`` 16 kHz audio, e.g. the requests) as one WAV on the
    session clock, ``seconds`` long."""
    from voicecoach.audio import write_wav

    out = player.mix(seconds, rate).astype(np.int32)
    if extra is not None and extra.size:
        x = resample(AudioChunk(ASR_RATE, extra), rate).samples if rate != ASR_RATE else extra
        n = min(len(out), len(x))
        out[:n] += x[:n]
    write_wav(path, AudioChunk(rate, np.clip(out, -32768, 32767).astype(np.int16)))

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
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicecoach.aec import EchoPath, PlayedReference, make_canceller
from voicecoach.asr.command import incomplete, says_barge
from voicecoach.audio import ASR_RATE
from voicecoach.coach import Coach, Show
from voicecoach.display import Display
from voicecoach.ear import (
    ANSWER_TAIL,
    ECHO_TAIL,
    MIN_PERSON,
    MIN_PERSON_CRISIS,
    SURE,
    Ear,
    EarState,
    Heard,
    words,
)
from voicecoach.engine import Ended, Speak, StepStarted
from voicecoach.errors import VoicecoachError
from voicecoach.mic import MicError, Source
from voicecoach.room import RoomEcho
from voicecoach.runner import RealTime, Runner, Speaker, VirtualTime
from voicecoach.tape import RETRY_SECONDS, TapePlayer
from voicecoach.trace import enabled as tracing
from voicecoach.types import IntentMatch
from voicecoach.vad import FRAME_SECONDS

RUNNING_UNEXPECTED = frozenset({"resume"})
"""Commands that mean nothing while a session runs unpaused and nothing is asked: command mode
reads a text that is one of them again among the other commands (voicecoach.asr.command)."""

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
        self.clock: VirtualTime | RealTime = VirtualTime() if self.fast else RealTime(time.monotonic)
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
        self.ear.cancelled = self.echo is not None
        if self.echo is not None and self.echo.linear is not None:
            self.ear.suppressed = self.echo.suppressed
            self.ear.own_residual = self.echo.own_residual
            self.ear.acted_over_coach = self._acted_over_coach
        if note:
            self.display.notice(note)
        self.speaker = Speaker(voice, self.player, self.clock, show=self._show, notice=self.display.notice,
                               played=self._played)
        self.runner = Runner(coach, self.clock, self.speaker)
        """Tick, dispatch and play what is due (voicecoach/runner.py); this loop is its input."""
        self._events: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.heard: list[Heard] = []
        self.hushes: list[float] = self.speaker.hushes
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
        ``decoded``, ``matched`` (intent known), ``planned`` (the coach's reply planned, its cues
        synthesised unless cached), and for the first cue after it ``synth_start``,
        ``synth_end``, ``played`` (``scripts/bench_live.py`` splits the reply time with them)."""
        self._timing: dict[str, Any] | None = None
        self.echo_input: list[tuple[float, np.ndarray]] | None = [] if tracing() else None
        """With ``VOICECOACH_TRACE``: every microphone chunk the echo path was given, with its
        session time, to replay the run's echo cancellation (``scripts/replay_echo.py``)."""

    # -- clocks

    def now(self) -> float:
        return self.clock.now()

    def request_stop(self) -> None:
        """End the loop at the next chance (SIGINT/SIGTERM, a test)."""
        self._stop.set()

    # -- the mode the ear should use for an utterance starting now

    def _speaking(self, now: float) -> bool:
        pending = self.runner.pending
        if pending and pending[0].cue.t <= now + 0.05:
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
        pending = self.runner.pending
        if pending and pending[0].cue.t <= now + 0.05:
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
        eng = self.coach.engine
        # "resume" means nothing while a session runs unpaused: a mis-hearing that reads as it
        # ("can you start" for "can you stop") is read again among the other commands.
        running = eng is not None and eng.status == "running" and lst is None
        self.state.unexpected = RUNNING_UNEXPECTED if running else frozenset()
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

    def _acted_over_coach(self, text: str) -> str | None:
        """What :meth:`_hear` would act on in ``text`` heard while the coach speaks: "crisis" (a
        crisis statement, or one the screen asks about), a command's intent, or None."""
        m = self._match(text)
        if m is None or not self._taken_while_speaking(m, text):
            return None
        return "crisis" if m.flagged else m.name

    def _taken_while_speaking(self, m: IntentMatch, text: str) -> bool:
        """What the coach acts on while it speaks: a crisis statement, one the screen asks about
        (unclear is read as unsafe), or a finished command it takes then, with a sure match."""
        return m.flagged or (
            m.name in self._while_speaking and m.confidence >= SURE and not incomplete(text))

    def _is_crisis_clear(self, text: str) -> bool:
        """A crisis statement the coach has not been saying itself: heard even when the
        double-talk check is unsure (a false alarm costs a gentle question; a miss costs more)."""
        m = self._match(text)
        return m is not None and m.crisis and not self.is_echo(text, 0.0, self.now()) and len(words(text)) >= 3

    def _clear_stop(self, h: Heard) -> bool:
        """A stop as written, with a sure match, said over the coach where AEC3's own output held
        more than the coach's voice (``Heard.own_db``): the person's, however few frames the
        double-talk check counted (AEC3's suppressor can leave 2-3 frames of a soft word). The
        coach's own words are still refused (:meth:`is_echo`)."""
        return h.own_db is not None and says_barge(h.text, "stop") and self._acted_over_coach(h.text) == "stop"

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
            if isinstance(self.clock, RealTime):
                self.clock.restart()
            self.runner.dispatch(first)
            if self.fast:
                self._run_fast(max_seconds)
            else:
                self._run_realtime(max_seconds)
        finally:
            self.coach.close("interrupted")
            self._stop.set()
        return LiveResult(self.now(), list(self.heard), list(self.hushes), list(self.ignored))

    def _done(self) -> bool:
        return (self.source.finished and self.runner.quiet() and self.ear.rec is None)

    def _run_fast(self, max_seconds: float | None) -> None:
        dt = FRAME_SECONDS
        while not self._stop.is_set():
            if max_seconds is not None and self.now() >= max_seconds:
                break
            if self._done():
                break
            end = self.now() + dt
            self.runner.run_until(end)
            self._publish()
            samples = self._read_fast(dt)
            self.runner.set_time(end)
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
            if self.echo_input is not None:
                self.echo_input.append((t_end, samples.copy()))
            samples = self.echo.process(samples, t_end)
        return samples

    def _ear_failed(self, exc: BaseException) -> None:
        """A recogniser failed mid-utterance: that utterance is lost, listening goes on."""
        self.display.notice(f"could not recognise that: {exc}")
        self.ear.rec = None
        self.ear.endpointer.reset()

    def _read_fast(self, dt: float) -> np.ndarray | None:
        try:
            if self._mic_down is not None:
                self.source.start()
                self._mic_back()
            return self.source.read(0.0)
        except MicError as exc:
            self._mic_fault(str(exc))
            # A dead microphone in virtual time: let a retry interval pass.
            t = self.now() + max(0.0, RETRY_SECONDS - dt)
            self.runner.run_until(t)
            self.runner.set_time(t)
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

        def on_input(item: object) -> bool:
            if isinstance(item, Heard):
                self._on_heard(item)
            elif isinstance(item, str):
                self.display.notice(item)
            return True

        try:
            self.runner.serve(self._events, on_input, poll=0.05, max_seconds=max_seconds,
                              finished=lambda: self._done() and self._events.empty(),
                              stopped=self._stop.is_set, before_wait=self._publish)
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
                captured = getattr(src, "captured", None)
                if captured is not None and 0.0 <= time.monotonic() - captured < 1.0:
                    # When the samples were heard, not when this thread got round to them: the
                    # echo canceller lines them up with what was played to the millisecond.
                    now -= time.monotonic() - captured
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
        if h.over_coach and not self._clear_stop(h) and (
                h.person < MIN_PERSON_CRISIS or (h.person < MIN_PERSON and not self._is_crisis_clear(h.text))):
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
        if speaking and m is not None and not self._taken_while_speaking(m, text):
            return
        matched = self.now()
        _, actions = self.coach.hear(now, text, speaking=speaking, match=m)
        if h is not None:
            self._timing = {"text": text, "end": h.end, "endpoint": h.at, "decoded": h.decoded,
                            "received": now, "matched": matched, "planned": self.now()}
            self.timings.append(self._timing)
        self.runner.dispatch(actions)

    # -- the runner's speaker: what is shown, and what is told of each cue played

    def _show(self, a: Any, now: float) -> None:  # noqa: ARG002
        if isinstance(a, StepStarted):
            self.display.show_step(a.step, a.label)
        elif isinstance(a, Show):
            if a.text:
                self.display.line(f"*** {a.text} ***" if a.kind == "resources" else a.text)
        elif isinstance(a, Ended):
            self.display.line(f"  · session {a.status}")

    def _played(self, sp: Speak, now: float, t0: float, t1: float) -> None:
        if self._timing is not None:
            self._timing.update(synth_start=t0, synth_end=t1, played=self.now(), cue=sp.cue.text)
            self._timing = None
        self.display.show_speak(sp.cue, now)

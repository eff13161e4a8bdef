"""One runner for every way a session runs: the coach's tick, the actions it returns carried out,
and each cue started when it is due.

A :class:`Runner` drives one :class:`~voicecoach.coach.Coach` on a :class:`Clock` into a
:class:`Sink`. The clock is virtual (:class:`VirtualTime`: render, scripted chat, ``--fast``
listening, tests) or real (:class:`RealTime`); the sink mixes cues into one buffer
(:class:`Mixer`), speaks them (:class:`Speaker`), or prints them. The runner owns what is the same
everywhere: ``Speak`` waits in a time-ordered queue until its cue is due, ``Hush`` empties the
queue and silences the sink (so does a session that ends other than completed while the sink is
sounding), and every other action goes to the sink to show. What differs stays with the caller:
where input comes from and how time moves (:meth:`Runner.run_until` and :meth:`Runner.play_out`
in virtual time, :meth:`Runner.serve` in real time).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from voicecoach.coach import Coach, CoachAction
from voicecoach.engine import Ended, Hush, Speak
from voicecoach.errors import VoicecoachError
from voicecoach.types import AudioChunk, Cue

EARLY = 0.002
"""A cue this close to its time is due (the clock is read a moment before the check)."""


class Clock(Protocol):
    """The session clock, in seconds."""

    def now(self) -> float: ...


class VirtualTime:
    """Time that moves only when the runner moves it; 0 is the session's start."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def set(self, t: float) -> None:
        """Move to ``t`` (never back)."""
        self.t = max(self.t, t)


class RealTime:
    """Seconds since the session started, on a monotonic clock (``source``; tests pass their own)."""

    def __init__(self, source: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.t0 = source()

    def now(self) -> float:
        return self.source() - self.t0

    def restart(self) -> None:
        self.t0 = self.source()


class Sink(Protocol):
    """Where the runner's cues and other actions go."""

    @property
    def busy(self) -> bool:
        """Something is sounding now."""

    def play(self, speak: Speak, now: float) -> None:
        """Start this cue (it is due at ``now``)."""

    def hush(self, now: float) -> None:
        """Cut whatever is sounding."""

    def show(self, action: CoachAction, now: float) -> None:
        """Any action that is not speech (a step began, a notice, the session ended...)."""


class Runner:
    """Tick, dispatch the actions, play what is due. See the module docstring."""

    def __init__(self, coach: Coach, clock: Clock, sink: Sink) -> None:
        self.coach = coach
        self.clock = clock
        self.sink = sink
        self.pending: list[Speak] = []
        """Cues waiting for their time, earliest first."""

    def now(self) -> float:
        return self.clock.now()

    # -- the three things every runner does

    def dispatch(self, actions: list[CoachAction]) -> None:
        """Carry out the coach's actions, then start whatever is due."""
        now = self.now()
        for a in actions:
            if isinstance(a, Speak):
                self.pending.append(a)
            elif isinstance(a, Hush):
                self.pending.clear()
                self.sink.hush(now)
            else:
                self.sink.show(a, now)
                if isinstance(a, Ended) and a.status != "completed" and self.sink.busy:
                    self.pending.clear()
                    self.sink.hush(now)
        self.pending.sort(key=lambda s: s.cue.t)
        self.play_due()

    def play_due(self) -> None:
        now = self.now()
        while self.pending and self.pending[0].cue.t <= now + EARLY:
            self.sink.play(self.pending.pop(0), now)

    def tick(self) -> None:
        self.dispatch(self.coach.tick(self.now()))

    def hear(self, text: str, *, speaking: bool = False) -> Any:
        """The coach hears ``text`` now; returns its match."""
        m, actions = self.coach.hear(self.now(), text, speaking=speaking)
        self.dispatch(actions)
        return m

    # -- what comes next

    def next_time(self) -> float | None:
        """The next deadline or cue, whichever is first."""
        d = self.coach.next_deadline
        if self.pending:
            d = self.pending[0].cue.t if d is None else min(d, self.pending[0].cue.t)
        return d

    def wait_time(self, most: float) -> float:
        """How long to wait for input before something is due (at most ``most``)."""
        d = self.next_time()
        return most if d is None else min(most, max(0.0, d - self.now()))

    def quiet(self) -> bool:
        """Nothing running, nothing waiting to be said, nothing sounding."""
        return self.coach.idle and not self.pending and not self.sink.busy

    # -- virtual time

    def _virtual(self) -> VirtualTime:
        if not isinstance(self.clock, VirtualTime):
            raise VoicecoachError("a real clock cannot be moved on")
        return self.clock

    def set_time(self, t: float) -> None:
        """Virtual time: move the clock to ``t`` (nothing is started)."""
        self._virtual().set(t)

    def advance_to(self, t: float) -> None:
        """Virtual time: move the clock to ``t`` and start what is due (no tick)."""
        self.set_time(t)
        self.play_due()

    def run_until(self, until: float) -> None:
        """Virtual time: every deadline and cue up to ``until``, each at its own time."""
        clock = self._virtual()
        while True:
            t = self.next_time()
            if t is None or t > until:
                return
            clock.set(t)
            self.tick()

    def play_out(self) -> None:
        """Virtual time: every cue still waiting, each at its own time (no more ticks)."""
        clock = self._virtual()
        while self.pending:
            clock.set(self.pending[0].cue.t)
            self.play_due()

    # -- real time

    def serve(self, inputs: Any, on_input: Callable[[object], bool], *, poll: float,
              finished: Callable[[], bool], max_seconds: float | None = None,
              stopped: Callable[[], bool] = lambda: False,
              before_wait: Callable[[], None] | None = None) -> None:
        """Real time: play what is due, wait on ``inputs`` (a queue) no longer than the next cue or
        deadline (and ``poll``), hand what came to ``on_input`` (False ends the run), tick; until
        ``finished``, ``stopped`` or ``max_seconds``."""
        while not stopped():
            now = self.now()
            self.play_due()
            if max_seconds is not None and now >= max_seconds:
                break
            if finished():
                break
            if before_wait is not None:
                before_wait()
            try:
                item = inputs.get(timeout=self.wait_time(poll))
            except queue.Empty:
                item = None
            if item is not None and not on_input(item):
                break
            self.tick()


# ---------------------------------------------------------------------------------------------
# Sinks


def cut(chunk: AudioChunk, cue: Cue) -> AudioChunk:
    """The cue's sound, cut to its slot with a 10 ms fade so the cut does not click."""
    n = int(round(cue.duration * chunk.rate))
    if n >= chunk.frames:
        return chunk
    samples = chunk.samples[:n].astype(np.float64)
    fade = min(n, int(0.01 * chunk.rate))
    if fade:
        samples[-fade:] *= np.linspace(1.0, 0.0, fade)
    return AudioChunk(chunk.rate, samples.round().astype(np.int16))


def cut_at(c: Cue, t: float) -> Cue:
    """The cue ended at ``t`` if it is sounding then."""
    if c.t < t < c.t + c.duration:
        return Cue(c.t, t - c.t, c.text, c.phase, c.max_duration, c.step)
    return c


class Mixer:
    """A sink that places every cue on one timeline at its own time, to be mixed into one buffer
    afterwards (render). A hush cuts the cue sounding at that moment."""

    def __init__(self, clock: Clock, show: Callable[[CoachAction, float], None] | None = None) -> None:
        self.clock = clock
        self.placed: list[Speak] = []
        self._show = show

    @property
    def busy(self) -> bool:
        now = self.clock.now()
        return any(p.cue.t <= now < p.cue.t + p.cue.duration for p in self.placed)

    def play(self, speak: Speak, now: float) -> None:  # noqa: ARG002 - placed at the cue's own time
        self.placed.append(speak)

    def hush(self, now: float) -> None:
        self.placed = [Speak(cut_at(p.cue, now), p.settings) for p in self.placed]

    def show(self, action: CoachAction, now: float) -> None:
        if self._show is not None:
            self._show(action, now)


class Speaker:
    """A sink that speaks: each cue synthesised when due, cut to its slot and started on a player.
    Speech that cannot be synthesised is a notice, and the session goes on. ``played`` is told
    of each cue started (the cue, when it was due, and when synthesis began and ended);
    ``show`` gets every other action."""

    def __init__(self, voice: Any, player: Any, clock: Clock, *, show: Callable[[CoachAction, float], None],
                 notice: Callable[[str], None],
                 played: Callable[[Speak, float, float, float], None] | None = None) -> None:
        self.voice = voice
        self.player = player
        self.clock = clock
        self._show = show
        self._notice = notice
        self._played = played
        self.hushes: list[float] = []
        """Session times the speaker was silenced while it was sounding."""

    @property
    def busy(self) -> bool:
        return bool(self.player.busy)

    def play(self, speak: Speak, now: float) -> None:
        t0 = self.clock.now()
        try:
            chunk = self.voice.synthesize(speak.cue.text, speak.settings)
        except VoicecoachError as exc:
            self._notice(f"could not speak: {exc}")
            return
        t1 = self.clock.now()
        self.player.play(cut(chunk, speak.cue), speak.cue.text)
        if self._played is not None:
            self._played(speak, now, t0, t1)

    def hush(self, now: float) -> None:
        if self.player.busy:
            self.hushes.append(now)
        self.player.stop()

    def show(self, action: CoachAction, now: float) -> None:
        self._show(action, now)

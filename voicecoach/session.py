"""Runners: what drives a Coach through time.

- :func:`render_session` — virtual time, every cue placed into one WAV to the sample.
- :class:`VirtualChat` — scripted typed input (stdin not a terminal): each line answers the next
  question, timed waits pass at once, no answer timeouts.
- :class:`RealtimeRunner` — a real monotonic clock and a speaker: cues start on their
  deadlines; input (typed lines, or recognised speech from the live loop) arrives on a queue.

All three carry out the same actions from the same Coach, so a script behaves alike everywhere.
"""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from voicecoach.coach import Coach, Show
from voicecoach.config import Config, ensure_home
from voicecoach.engine import Ended, Hush, Speak, StepStarted
from voicecoach.errors import VoicecoachError
from voicecoach.scripts import Library
from voicecoach.tts.base import VoiceSettings
from voicecoach.types import AudioChunk, Cue


def load_disclaimer() -> str:
    from voicecoach.config import data_path
    from voicecoach.yamlio import read_yaml_file

    try:
        data = read_yaml_file(data_path("disclaimer.yaml"))
        return " ".join(str(data["disclaimer"]).split())
    except (VoicecoachError, KeyError, TypeError):
        return "I'm a self-help companion, not a therapist, and I can't diagnose or treat anything."


def load_matcher(config: Config) -> Any:
    from voicecoach.intents import load_matcher as _load

    return _load(config.home, threshold=config.dialogue.intent_threshold)


def open_journal(config: Config) -> Any:
    if not config.journal.enabled:
        return None
    from voicecoach.journal import Journal

    ensure_home(config.home)
    return Journal.open(config.home)


def make_coach(config: Config, library: Library, voice: Any, *, journal: Any = None,
               answer_timeout: float | None = None, home: bool = True, warm: bool = False) -> Coach:
    """A Coach wired to the configured matcher, journal and voice. ``warm``: load the intent
    matcher's sentence encoder now, so the first thing the person says is not the slow one."""

    def length(text: str, settings: VoiceSettings) -> float:
        return voice.synthesize(text, settings).seconds

    matcher = load_matcher(config)
    if warm and hasattr(matcher, "warm_up"):
        matcher.warm_up()
    if warm:
        warm_cues(voice, list(library.scripts.values()))
    return Coach(library, length, matcher=matcher, journal=journal, region=config.region,
                 answer_timeout=answer_timeout, home=config.home if home else None)


def warm_cues(voice: Any, scripts: list[Any]) -> Any:
    """The fixed breathing cues of ``scripts`` into the voice's cache (from the on-disk cue
    cache, or synthesised and stored there), before a session, so none waits on the synthesiser.
    Returns the :class:`voicecoach.tts.cues.DiskCues` (counts, failures)."""
    from voicecoach.cue_plan import warm

    return warm(voice, scripts)


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


# ---------------------------------------------------------------------------------------------
# Render


@dataclass
class Rendered:
    audio: AudioChunk
    cues: list[Cue]
    ended: list[tuple[str, str]] = field(default_factory=list)

    def timeline(self) -> dict[str, Any]:
        return {"cues": [{"t": round(c.t, 6), "duration": round(c.duration, 6), "text": c.text, "phase": c.phase}
                         for c in self.cues]}


ANSWER_DELAY = 1.0
"""Seconds after a question ends before a rendered answer arrives."""
THINK_SECONDS = 3.0
"""Seconds of quiet a render leaves after a required question nobody answers."""


def render_session(coach: Coach, voice: Any, script_id: str, params: dict[str, Any] | None = None,
                   answers: Iterable[str] = (), fade_seconds: float = 0.0, tail: float = 1.0) -> Rendered:
    """Run a session in virtual time and place every cue into one buffer.

    Given answers are heard one per question, ``ANSWER_DELAY`` after it. With none left, the
    render does not ask and wait: an optional question is skipped (it is not spoken at all),
    and a required one is spoken, followed by ``THINK_SECONDS`` of quiet, then its default
    (the default option of a choice, else no answer) with no reprompt. The skipped time is cut
    out of the recording, so what follows keeps its own timing (breathing stays on its grid).
    """
    pending = list(answers)
    placed: list[Speak] = []
    cuts: list[tuple[float, float]] = []
    step_mark = 0
    now = 0.0
    actions = coach.start_script(0.0, script_id, params)
    guard = 0
    while True:
        guard += 1
        if guard > 1_000_000:
            raise VoicecoachError("render did not finish (a script that never ends?)")
        for a in actions:
            if isinstance(a, Speak):
                placed.append(a)
            elif isinstance(a, Hush):
                placed = [Speak(_cut_at(p.cue, now), p.settings) for p in placed]
            elif isinstance(a, StepStarted):
                step_mark = len(placed)
        actions = []
        if coach.idle:
            break
        lst = coach.listening
        if lst is not None and pending:
            t = max(now, lst.since, coach.speaking_until) + ANSWER_DELAY
            d = coach.next_deadline
            if d is not None and d < t:
                now = d
                actions = coach.tick(d)
                continue
            now = t
            _, actions = coach.hear(now, pending.pop(0))
            continue
        if lst is not None:
            step = coach.engine.current_step if coach.engine is not None else None
            if step is not None and step.optional and lst.deadline is not None:
                # Skipped: the question is not spoken, and its time is cut out.
                asked = placed[step_mark:]
                start = min((p.cue.t for p in asked), default=lst.since)
                del placed[step_mark:]
                now = max(now, lst.since)
                cuts.append((start, now))
                _, actions = coach.hear(now, "skip")
                continue
            if lst.deadline is not None:
                # Required: quiet to think, then the default, with no reprompt (the reprompt
                # and the waits fall into the cut).
                quiet_end = max(now, lst.since) + THINK_SECONDS
                now, actions = _time_out(coach, lst)
                if now > quiet_end:
                    cuts.append((quiet_end, now))
                continue
        d = coach.next_deadline
        if d is None:
            break
        now = max(now, d)
        actions = coach.tick(now)
    coach.close("completed")
    placed = _shift(placed, cuts)
    return _mix(placed, voice, fade_seconds, tail, coach.ended)


def _time_out(coach: Coach, lst: Any) -> tuple[float, list[Any]]:
    """Let an unanswered question time out, and its reprompt too, so the engine takes the
    default. Returns when it gave up and everything it did meanwhile."""
    now = lst.deadline
    out: list[Any] = []
    for _ in range(3):
        out += coach.tick(now)
        nxt = coach.listening
        if nxt is None or nxt.name != lst.name or nxt.deadline is None or nxt.since < lst.since:
            break
        now = nxt.deadline
    return now, out


def _shift(placed: list[Speak], cuts: list[tuple[float, float]]) -> list[Speak]:
    """Cue times with the cut intervals removed (cues inside a cut are gone)."""
    if not cuts:
        return placed
    cuts = sorted(cuts)
    out = []
    for p in placed:
        c = p.cue
        removed = sum(min(b, c.t) - a for a, b in cuts if a < c.t)
        if any(a <= c.t < b for a, b in cuts):
            continue
        out.append(Speak(Cue(c.t - removed, c.duration, c.text, c.phase, c.max_duration, c.step), p.settings))
    return out


def _cut_at(c: Cue, t: float) -> Cue:
    if c.t < t < c.t + c.duration:
        return Cue(c.t, t - c.t, c.text, c.phase, c.max_duration, c.step)
    return c


def _mix(placed: list[Speak], voice: Any, fade_seconds: float, tail: float, ended) -> Rendered:
    from voicecoach.audio import resample

    sounds: list[tuple[Cue, AudioChunk]] = []
    cues = [p.cue for p in placed]
    rate = None
    for p in placed:
        chunk = voice.synthesize(p.cue.text, p.settings)
        rate = rate or chunk.rate
        sounds.append((p.cue, chunk if chunk.rate == rate else resample(chunk, rate)))
    rate = rate or 22050
    end = max((c.t + c.duration for c in cues), default=0.0) + tail
    buf = np.zeros(int(round(end * rate)) + 1, dtype=np.int32)
    for cue, chunk in sounds:
        piece = cut(chunk, cue).samples.astype(np.int32)
        start = int(round(cue.t * rate))
        stop = min(len(buf), start + len(piece))
        buf[start:stop] += piece[: stop - start]
    audio = AudioChunk(rate, np.clip(buf, -32768, 32767).astype(np.int16))
    if fade_seconds > 0:
        from voicecoach.tts.base import fade_out

        audio = fade_out(audio, fade_seconds)
    return Rendered(audio, cues, list(ended))


# ---------------------------------------------------------------------------------------------
# Typed chat


class Printer:
    """What the person sees: the coach's words, notices, and what was heard."""

    def __init__(self, stream: TextIO | None = None, show_steps: bool = False):
        self.stream = stream or sys.stdout
        self.show_steps = show_steps
        self._last_phase: str | None = None

    def action(self, a: Any) -> None:
        if isinstance(a, Speak):
            c = a.cue
            if c.phase:
                label = {"inhale": "in", "exhale": "out", "hold_in": "hold", "hold_out": "hold"}.get(c.phase, c.phase)
                self._write(f"coach: {c.text}  [{label}]")
            else:
                self._write(f"coach: {c.text}")
        elif isinstance(a, Show):
            if a.text:
                self._write(f"*** {a.text} ***" if a.kind == "resources" else a.text)
        elif isinstance(a, StepStarted) and self.show_steps:
            self._write(f"  · {a.label}")
        elif isinstance(a, Ended) and self.show_steps:
            self._write(f"  · session {a.status}")

    def _write(self, line: str) -> None:
        try:
            print(line, file=self.stream, flush=True)
        except BrokenPipeError:
            pass


class VirtualChat:
    """Scripted typed input: each line answers the next question, waits pass at once."""

    def __init__(self, coach: Coach, printer: Printer, speak: Callable[[Speak], None] | None = None):
        self.coach = coach
        self.printer = printer
        self.speak = speak

    def run(self, lines: Iterable[str], first: list[Any]) -> None:
        try:
            self._loop(lines, first)
        finally:
            # End of input, or Ctrl-C: the session row is closed; answers are already saved.
            self.coach.close("interrupted")

    def _loop(self, lines: Iterable[str], first: list[Any]) -> None:
        coach = self.coach
        now = 0.0
        it = iter(lines)
        actions = first
        while True:
            for a in actions:
                self.printer.action(a)
                if isinstance(a, Speak) and self.speak is not None:
                    self.speak(a)
            actions = []
            if coach.listening is not None or coach.idle:
                line = _next_line(it)
                if line is None:
                    break
                now = max(now, coach.speaking_until) + 0.5
                # Anything due before the answer (a queued script start) happens first.
                d = coach.next_deadline
                if d is not None and d <= now and coach.listening is None:
                    actions = coach.tick(d)
                    for a in actions:
                        self.printer.action(a)
                    actions = []
                self.printer._write(f"you: {line}")
                _, actions = coach.hear(now, line)
                continue
            d = coach.next_deadline
            if d is None:
                break
            now = max(now, d)
            actions = coach.tick(now)


def _next_line(it) -> str | None:
    while True:
        try:
            line = next(it)
        except StopIteration:
            return None
        line = line.strip()
        if line:
            return line


# ---------------------------------------------------------------------------------------------
# Real time


class RealtimeRunner:
    """Drives a Coach on the real clock: plays cues on their deadlines through a Player and
    feeds it input from a queue (typed lines, or the live loop's recognised speech)."""

    EOF = object()

    def __init__(self, coach: Coach, voice: Any, player: Any, printer: Printer,
                 clock: Callable[[], float] = time.monotonic):
        self.coach = coach
        self.voice = voice
        self.player = player
        self.printer = printer
        self.clock = clock
        self.inputs: queue.Queue = queue.Queue()
        self.t0 = clock()
        self._pending: list[Speak] = []
        self.played: list[tuple[float, Cue]] = []
        """(actual start on the session clock, cue): for timing checks."""

    def now(self) -> float:
        return self.clock() - self.t0

    def feed(self, text: str) -> None:
        self.inputs.put(text)

    def close_input(self) -> None:
        self.inputs.put(self.EOF)

    def run(self, first: list[Any], stop_when_idle: bool = True, max_seconds: float | None = None) -> None:
        try:
            self._loop(first, stop_when_idle, max_seconds)
        finally:
            # End of input, the time limit, or Ctrl-C: the session row is closed.
            self.coach.close("interrupted")

    def _loop(self, first: list[Any], stop_when_idle: bool, max_seconds: float | None) -> None:
        self._do(first)
        input_open = True
        while True:
            now = self.now()
            self._play_due(now)
            if max_seconds is not None and now >= max_seconds:
                break
            if self.coach.idle and not self._pending and not self.player.busy:
                if stop_when_idle or not input_open:
                    break
            deadline = self.coach.next_deadline
            if self._pending:
                deadline = self._pending[0].cue.t if deadline is None else min(deadline, self._pending[0].cue.t)
            timeout = 0.1 if deadline is None else min(0.1, max(0.0, deadline - self.now()))
            try:
                item = self.inputs.get(timeout=timeout) if input_open or timeout > 0 else None
            except queue.Empty:
                item = None
            now = self.now()
            if item is self.EOF:
                input_open = False
                if self.coach.listening is not None:
                    break
            elif isinstance(item, str) and item.strip():
                self.printer._write(f"you: {item.strip()}")
                speaking = self.player.busy
                _, actions = self.coach.hear(now, item, speaking=speaking)
                self._do(actions)
            self._do(self.coach.tick(self.now()))

    def _do(self, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, Speak):
                self._pending.append(a)
            elif isinstance(a, Hush):
                self._pending.clear()
                self.player.stop()
            else:
                self.printer.action(a)
        self._play_due(self.now())

    def _play_due(self, now: float) -> None:
        while self._pending and self._pending[0].cue.t <= now + 0.002:
            sp = self._pending.pop(0)
            chunk = self.voice.synthesize(sp.cue.text, sp.settings)
            self.player.play(cut(chunk, sp.cue), sp.cue.text)
            self.played.append((self.now(), sp.cue))
            self.printer.action(sp)


def stdin_lines_to(runner: RealtimeRunner, stream: TextIO) -> None:
    """Feed lines typed on a terminal to a runner (a daemon thread)."""
    import threading

    def pump() -> None:
        for line in stream:
            runner.feed(line)
        runner.close_input()

    threading.Thread(target=pump, name="stdin", daemon=True).start()


def script_fade(library: Library, script_id: str) -> float:
    try:
        return 8.0 if library.get(script_id).bedtime else 0.0
    except VoicecoachError:
        return 0.0


def output_path_ok(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise VoicecoachError(f"{path}: the folder {parent} does not exist")

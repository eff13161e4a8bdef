"""Sessions: a Coach wired to its matcher, journal and voice, and the three ways a session runs
without a microphone, each a thin user of :class:`voicecoach.runner.Runner`.

- :func:`render_session` — virtual time into a :class:`~voicecoach.runner.Mixer`: every cue
  placed into one WAV to the sample.
- :class:`VirtualChat` — scripted typed input (stdin not a terminal): each line answers the next
  question, timed waits pass at once, no answer timeouts.
- :class:`RealtimeRunner` — a real monotonic clock and a :class:`~voicecoach.runner.Speaker`:
  cues start on their deadlines; typed lines arrive on a queue.

All three carry out the same actions from the same Coach through the same runner, so a script
behaves alike everywhere.
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

from voicecoach.coach import FIXED_LINES, Coach, Show
from voicecoach.config import Config, ensure_home
from voicecoach.engine import Ended, Speak, StepStarted
from voicecoach.errors import VoicecoachError
from voicecoach.runner import Mixer, RealTime, Runner, Speaker, VirtualTime, cut
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
    coach = Coach(library, length, matcher=matcher, journal=journal, region=config.region,
                  answer_timeout=answer_timeout, home=config.home if home else None)
    if warm:
        warm_cues(voice, list(library.scripts.values()), lines=FIXED_LINES, base=coach.base_voice)
    return coach


def warm_cues(voice: Any, scripts: list[Any], lines: tuple[str, ...] = (),
              base: VoiceSettings | None = None) -> Any:
    """The fixed breathing cues of ``scripts``, and the coach's own fixed ``lines``, into the
    voice's cache (from the on-disk cue cache, or synthesised and stored there), before a
    session, so none waits on the synthesiser. Returns the :class:`voicecoach.tts.cues.DiskCues`
    (counts, failures)."""
    from voicecoach.cue_plan import warm

    return warm(voice, scripts, base, lines=lines)


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
    cuts: list[tuple[float, float]] = []
    step_mark = [0]
    clock = VirtualTime()

    def mark(a: Any, now: float) -> None:  # noqa: ARG001
        if isinstance(a, StepStarted):
            # Cues asked for before the step began are placed, or waiting to be.
            step_mark[0] = len(mixer.placed) + len(runner.pending)

    mixer = Mixer(clock, mark)
    runner = Runner(coach, clock, mixer)
    runner.dispatch(coach.start_script(0.0, script_id, params))
    guard = 0
    while not coach.idle:
        guard += 1
        if guard > 1_000_000:
            raise VoicecoachError("render did not finish (a script that never ends?)")
        now = clock.now()
        lst = coach.listening
        if lst is not None and pending:
            t = max(now, lst.since, coach.speaking_until) + ANSWER_DELAY
            d = coach.next_deadline
            if d is not None and d < t:
                runner.advance_to(d)
                runner.tick()
                continue
            runner.advance_to(t)
            runner.hear(pending.pop(0))
            continue
        if lst is not None:
            step = coach.engine.current_step if coach.engine is not None else None
            if step is not None and step.optional and lst.deadline is not None:
                # Skipped: the question is not spoken, and its time is cut out.
                runner.advance_to(lst.since)
                asked = mixer.placed[step_mark[0]:]
                start = min((p.cue.t for p in asked), default=lst.since)
                del mixer.placed[step_mark[0]:]
                cuts.append((start, clock.now()))
                runner.hear("skip")
                continue
            if lst.deadline is not None:
                # Required: quiet to think, then the default, with no reprompt (the reprompt
                # and the waits fall into the cut).
                quiet_end = max(now, lst.since) + THINK_SECONDS
                _time_out(runner, lst)
                if clock.now() > quiet_end:
                    cuts.append((quiet_end, clock.now()))
                continue
        d = coach.next_deadline
        if d is None:
            break
        runner.advance_to(d)
        runner.tick()
    runner.play_out()
    coach.close("completed")
    placed = _shift(mixer.placed, cuts)
    return _mix(placed, voice, fade_seconds, tail, coach.ended)


def _time_out(runner: Runner, lst: Any) -> None:
    """Let an unanswered question time out, and its reprompt too, so the engine takes the
    default."""
    coach = runner.coach
    runner.advance_to(lst.deadline)
    for _ in range(3):
        runner.tick()
        nxt = coach.listening
        if nxt is None or nxt.name != lst.name or nxt.deadline is None or nxt.since < lst.since:
            break
        runner.advance_to(nxt.deadline)


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

    def you(self, text: str) -> None:
        """What the person typed (or said)."""
        self._write(f"you: {text}")

    def _write(self, line: str) -> None:
        try:
            print(line, file=self.stream, flush=True)
        except BrokenPipeError:
            pass


class VirtualChat:
    """Scripted typed input: each line answers the next question, waits pass at once. It is the
    runner's sink: cues are printed (and given to ``speak``, if any) when their virtual time
    comes, before the next line is read."""

    busy = False

    def __init__(self, coach: Coach, printer: Printer, speak: Callable[[Speak], None] | None = None):
        self.coach = coach
        self.printer = printer
        self.speak = speak
        self.clock = VirtualTime()
        self.runner = Runner(coach, self.clock, self)
        self.heard: list[tuple[str, Any]] = []
        """Each line heard, with the coach's match for it."""

    def run(self, lines: Iterable[str], first: list[Any]) -> None:
        try:
            self.talk(lines, first)
        finally:
            # End of input, or Ctrl-C: the session row is closed; answers are already saved.
            self.coach.close("interrupted")

    def talk(self, lines: Iterable[str], first: list[Any], pause: float = 0.5) -> None:
        """The conversation, ``first`` (the coach's opening actions) then the lines, each said
        ``pause`` seconds after the coach falls silent, and what follows each until the coach
        listens again or falls idle; the session is left open."""
        coach, runner = self.coach, self.runner
        it = iter(lines)
        runner.dispatch(first)
        while True:
            if coach.listening is not None or coach.idle:
                # Everything said so far is heard before the next line.
                runner.advance_to(coach.speaking_until)
                line = _next_line(it)
                if line is None:
                    break
                runner.advance_to(self.clock.now() + pause)
                self.printer.you(line)
                self.heard.append((line, runner.hear(line)))
                continue
            d = coach.next_deadline
            if d is None:
                break
            runner.advance_to(d)
            runner.tick()
        runner.play_out()

    # -- the runner's sink

    def play(self, speak: Speak, now: float) -> None:  # noqa: ARG002
        self.printer.action(speak)
        if self.speak is not None:
            self.speak(speak)

    def hush(self, now: float) -> None:
        pass  # a printed line stays printed; a spoken one was waited for to its end

    def show(self, action: Any, now: float) -> None:  # noqa: ARG002
        self.printer.action(action)


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
    feeds it input from a queue (typed lines)."""

    EOF = object()

    def __init__(self, coach: Coach, voice: Any, player: Any, printer: Printer,
                 clock: Callable[[], float] = time.monotonic):
        self.coach = coach
        self.player = player
        self.printer = printer
        self.inputs: queue.Queue = queue.Queue()
        self.played: list[tuple[float, Cue]] = []
        """(actual start on the session clock, cue): for timing checks."""
        self.clock = RealTime(clock)
        sink = Speaker(voice, player, self.clock, show=lambda a, _now: printer.action(a),
                       notice=_notice, played=self._played)
        self.runner = Runner(coach, self.clock, sink)

    @property
    def t0(self) -> float:
        return self.clock.t0

    def now(self) -> float:
        return self.clock.now()

    def feed(self, text: str) -> None:
        self.inputs.put(text)

    def close_input(self) -> None:
        self.inputs.put(self.EOF)

    def run(self, first: list[Any], stop_when_idle: bool = True, max_seconds: float | None = None) -> None:
        input_open = [True]

        def on_input(item: object) -> bool:
            if item is self.EOF:
                input_open[0] = False
                return self.coach.listening is None
            if isinstance(item, str) and item.strip():
                self.printer.you(item.strip())
                self.runner.hear(item, speaking=self.player.busy)
            return True

        try:
            self.runner.dispatch(first)
            self.runner.serve(self.inputs, on_input, poll=0.1, max_seconds=max_seconds,
                              finished=lambda: self.runner.quiet() and (stop_when_idle or not input_open[0]))
        finally:
            # End of input, the time limit, or Ctrl-C: the session row is closed.
            self.coach.close("interrupted")

    def _played(self, speak: Speak, now: float, t0: float, t1: float) -> None:  # noqa: ARG002
        self.played.append((self.now(), speak.cue))
        self.printer.action(speak)


def _notice(message: str) -> None:
    print(f"voicecoach: {message}", file=sys.stderr, flush=True)


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

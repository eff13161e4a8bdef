"""The dialogue engine: runs one script as a state machine driven by events.

Events come in through :meth:`Engine.start`, :meth:`Engine.tick` (time reached a deadline),
:meth:`Engine.hear` (an answer) and :meth:`Engine.control` (stop, pause, resume, repeat, skip,
slower, faster, louder, quieter). Each returns the actions to carry out now: speak a cue, hush,
record an answer, and so on. The engine never sleeps and never reads a clock: every call passes
``now``, and :attr:`Engine.next_deadline` says when it next needs a tick. Given the same events
at the same times it does the same thing, which is what makes render exact to the sample and
the scenario tests deterministic.

Inside, each step is a generator that yields what it waits for (a time, or an answer); the
engine resumes it at the *scheduled* time, not the time the tick arrived, so breathing cues sit on
absolute deadlines and a late tick never pushes the beat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voicecoach.actions import (
    Action,
    Answer,
    Complete,
    Ended,
    EngineOptions,
    Entry,
    Hush,
    Input,
    Listening,
    Speak,
    StartScript,
    StepGen,
    StepStarted,
    Until,
    Wait,
)
from voicecoach.engine_steps import NO_CONTENT_HELP, StepRunner
from voicecoach.script_model import REF, Script, Step, StepKind
from voicecoach.script_text import COUNT_WORDS, PASS_WORDS, compare, count_items, fill, is_pass
from voicecoach.tts.base import VoiceSettings
from voicecoach.tts.delivery import fit, settings_for
from voicecoach.types import Cue

__all__ = ["COUNT_WORDS", "NO_CONTENT_HELP", "PASS_WORDS", "Action", "Answer", "Complete", "Ended", "Engine",
           "EngineOptions", "Entry", "Hush", "Listening", "Speak", "StartScript", "StepStarted", "VoiceSettings",
           "count_items", "fill", "is_pass"]

SENTENCE_GAP = 0.3
"""Seconds between two sentences of one step."""
CONTROL_PHRASES = {
    "pause": "Okay. I'll wait. Say resume when you're ready.",
    "resume": "Let's carry on.",
    "slower": "Slower.",
    "faster": "A little faster.",
    "louder": "Louder.",
    "quieter": "Quieter.",
    "help": "You can say stop, pause, next, repeat, slower, faster, louder or quieter at any time.",
}

SpeechLength = Callable[[str, VoiceSettings], float]


@dataclass
class _Frame:
    gen: StepGen
    step: Step
    wait: Wait | None = None


class Engine(StepRunner):
    """Runs one script. See the module docstring for the event protocol."""

    def __init__(self, script: Script, speech_length: SpeechLength, params: dict[str, Any] | None = None,
                 options: EngineOptions | None = None):
        self.script = script
        self.speech_length = speech_length
        self.options = options or EngineOptions()
        self.params = script.param_values(params, self.options.recall)
        self.answers: dict[str, Any] = {}
        self.status = "ready"
        """ready, running, paused, done."""
        self.end_status: str | None = None
        self.index = 0
        self.rate = script.voice.rate
        self.volume = script.voice.volume
        self.pace = 1.0
        """Breathing pace multiplier (slower/faster during a breathe step)."""
        self.speaking_until = 0.0
        self.spoken: list[Cue] = []
        self._frame: _Frame | None = None
        self._out: list[Action] = []
        self._t = 0.0
        self._goto_counts: dict[int, int] = {}
        self._breath_cycle: dict[int, int] = {}
        self._pending_start: str | None = None

    # -- public events ------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def listening(self) -> Listening | None:
        f = self._frame
        if self.status == "running" and f is not None and isinstance(f.wait, Input):
            return f.wait.listening
        return None

    @property
    def next_deadline(self) -> float | None:
        f = self._frame
        if self.status != "running" or f is None or f.wait is None:
            return None
        if isinstance(f.wait, Until):
            return f.wait.t
        return f.wait.listening.deadline

    @property
    def current_step(self) -> Step | None:
        return self._frame.step if self._frame else None

    def start(self, now: float) -> list[Action]:
        self._t = now
        self.status = "running"
        self._enter(self.index)
        return self._flush()

    def tick(self, now: float) -> list[Action]:
        """Time has reached ``now``: resume whatever waited for a time up to it."""
        guard = 0
        while self.status == "running" and self._frame is not None:
            d = self.next_deadline
            if d is None or d > now + 1e-9:
                break
            self._t = d
            self._resume(None)
            guard += 1
            if guard > 100000:  # pragma: no cover - a script bug, never a hang
                self._finish("stopped")
        return self._flush()

    def hear(self, now: float, text: str, intent: str | None = None) -> list[Action]:
        """An answer to what the engine is listening for. Ignored when it is not listening."""
        if self.listening is None:
            return []
        self._t = max(now, self._t)
        self._resume((text, intent))
        return self._flush()

    def control(self, now: float, name: str) -> list[Action]:
        """A control intent said during the session."""
        self._t = max(now, self._t)
        if self.status == "done":
            return []
        if name in ("stop", "goodbye"):
            self._hush(now)
            self._finish("stopped")
        elif name == "pause":
            if self.status == "running":
                self._hush(now)
                self._drop_frame()
                self.status = "paused"
                self._say_now(CONTROL_PHRASES["pause"])
        elif name == "resume":
            if self.status == "paused":
                self.status = "running"
                end = self._say_now(CONTROL_PHRASES["resume"])
                self._t = end + 0.5
                self._enter(self.index)
        elif name == "skip":
            if self.status == "running":
                self._hush(now)
                step = self.current_step
                self._drop_frame()
                if step is not None and step.kind == StepKind.BREATHE:
                    self._breath_cycle.pop(step.index, None)
                self._t = now + 0.3
                self._enter(self.index + 1)
        elif name in ("repeat", "help"):
            if self.status == "running":
                self._hush(now)
                self._drop_frame()
                if name == "help":
                    self._t = self._say_now(CONTROL_PHRASES["help"]) + 0.5
                self._enter(self.index)
        elif name in ("slower", "faster", "louder", "quieter"):
            step = self.current_step
            if name in ("slower", "faster") and step is not None and step.kind == StepKind.BREATHE:
                factor = 1.2 if name == "slower" else 1 / 1.2
                self.pace = min(1.6, max(0.6, self.pace * factor))
            elif name == "slower":
                self.rate = max(0.5, self.rate * 0.85)
            elif name == "faster":
                self.rate = min(2.0, self.rate * 1.15)
            elif name == "louder":
                self.volume = min(1.5, self.volume + 0.15)
            else:
                self.volume = max(0.2, self.volume - 0.15)
        return self._flush()

    def settings(self, step: Step | None = None, fade: float = 1.0) -> VoiceSettings:
        """The delivery of a cue: the script's and the step's ``voice:`` over the running rate
        and volume."""
        return settings_for(self.script.voice, step.voice if step is not None else None, self.rate, self.volume, fade)

    # -- internals ----------------------------------------------------------------------------

    def _flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _values(self) -> dict[str, Any]:
        v = dict(self.options.extras)
        v.update(self.params)
        v.update(self.answers)
        return v

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "min":
            inner = self._resolve(value[1])
            return None if inner is None else float(inner) * 60.0
        if isinstance(value, str):
            m = REF.match(value)
            if m:
                return self.params.get(m.group(1))
        return value

    def _test(self, step: Step) -> bool:
        cond = step.when
        if cond is None:
            return True
        values = self._values()
        v = values.get(cond.name)
        if cond.op is not None:
            ok = compare(v, cond.op, values.get(cond.other or ""))
            return not ok if cond.negate else ok
        if cond.values is not None:
            ok = v in cond.values or (isinstance(v, str) and v.lower() in {str(x).lower() for x in cond.values})
        else:
            ok = bool(v) and v != []
        return not ok if cond.negate else ok

    def _speak(self, text: str, at: float, phase: str | None = None, max_duration: float | None = None,
               step: Step | None = None, fade: float = 1.0) -> Cue:
        settings = self.settings(step, fade)
        if max_duration is not None:
            # A phase cue is spoken a little faster rather than cut at the next beat.
            settings, length = fit(text, settings, max_duration, self.speech_length)
        else:
            length = self.speech_length(text, settings)
        length = max(0.0, float(length))
        duration = min(length, max_duration) if max_duration is not None else length
        cue = Cue(t=at, duration=duration, text=text, phase=phase,
                  max_duration=max_duration if max_duration is not None and length > max_duration else None,
                  step=step.id if step and step.id else (step.label if step else None))
        self._out.append(Speak(cue, settings))
        self.spoken.append(cue)
        self.speaking_until = max(self.speaking_until, at + duration)
        return cue

    def _say_texts(self, texts: tuple[str, ...] | list[str], step: Step | None, extra: dict[str, Any] | None = None) -> float:
        """Speak sentences one after another from the logical now; return when they end."""
        values = self._values()
        if extra:
            values.update(extra)
        t = self._t
        first = True
        for raw in texts:
            text = fill(raw, values)
            if not text:
                continue
            if not first:
                t += SENTENCE_GAP + self.settings(step).sentence_pause
            cue = self._speak(text, t, step=step)
            t = cue.t + cue.duration
            first = False
        return t

    def _say_now(self, text: str) -> float:
        cue = self._speak(text, self._t)
        return cue.t + cue.duration

    def _hush(self, now: float) -> None:
        self._out.append(Hush())
        self.speaking_until = min(self.speaking_until, now)

    def _drop_frame(self) -> None:
        if self._frame is not None:
            self._frame.gen.close()
            self._frame = None

    def _finish(self, status: str) -> None:
        self._drop_frame()
        if self.status == "done":
            return
        self.status = "done"
        self.end_status = status
        if status == "completed" and self._pending_start:
            self._out.append(StartScript(self._pending_start))
        self._out.append(Ended(status))

    def _enter(self, index: int) -> None:
        """Run steps from ``index`` until one waits."""
        steps = self.script.steps
        hops = 0
        while self.status == "running":
            hops += 1
            if hops > 10000:  # a runaway loop of instant steps; the validator should prevent it
                self._finish("stopped")
                return
            if index >= len(steps):
                self._finish("completed")
                return
            step = steps[index]
            self.index = index
            if not self._test(step):
                index += 1
                continue
            self._out.append(StepStarted(step, step.label))
            gen = self._run_step(step)
            self._frame = _Frame(gen, step)
            try:
                wait = gen.send(None)
            except StopIteration as stop:
                self._frame = None
                nxt = self._after(step, stop.value)
                if nxt is None:
                    return
                index = nxt
                continue
            self._frame.wait = wait
            return

    def _resume(self, value: Any) -> None:
        f = self._frame
        if f is None:
            return
        try:
            f.wait = f.gen.send(value)
        except StopIteration as stop:
            self._frame = None
            nxt = self._after(f.step, stop.value)
            if nxt is not None:
                self._enter(nxt)

    def _after(self, step: Step, result: Any) -> int | None:
        """Where to go after a step finished; None when the script has ended."""
        if isinstance(result, tuple):
            what, arg = result
            if what == "goto":
                return self.script.step_index(arg)
            if what == "end":
                self._finish("completed")
                return None
            if what == "start":
                self._pending_start = arg
                self._finish("completed")
                return None
        return step.index + 1

    # -- steps ----------------------------------------------------------------------------------

    def _run_step(self, step: Step) -> StepGen:
        kind = step.kind
        if kind == StepKind.SAY:
            end = self._say_texts(step.text, step)
            yield Until(end + self._pause(step))
        elif kind == StepKind.PAUSE:
            yield Until(self._t + float(self._resolve(step.seconds) or 0))
        elif kind == StepKind.BREATHE:
            yield from self._breathe(step)
        elif kind in (StepKind.ASK, StepKind.RATE):
            return (yield from self._ask(step))
        elif kind == StepKind.COLLECT:
            yield from self._collect(step)
        elif kind == StepKind.CHOOSE:
            return (yield from self._choose(step))
        elif kind == StepKind.NOTICE:
            yield from self._notice(step)
        elif kind == StepKind.WAIT:
            seconds = float(self._resolve(step.seconds) or 0)
            yield Until(self._t + seconds)
            if step.checkin:
                end = self._say_texts(step.checkin, step)
                yield Until(end + self._pause(step))
        elif kind == StepKind.SAVE:
            if step.save_kind:
                fields = {f: self.answers.get(a) for f, a in step.save_fields.items()}
                self._out.append(Entry(step.save_kind, fields))
            elif self.script.journal:
                self._out.append(Complete(self.script.journal))
        elif kind == StepKind.GOTO:
            count = self._goto_counts.get(step.index, 0)
            if step.times is None or count < step.times:
                self._goto_counts[step.index] = count + 1
                return ("goto", step.target)
        elif kind == StepKind.END:
            return ("end", None)
        return None

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

import math
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from voicecoach.answers import Expects, read_answer, read_yes_no
from voicecoach.scripts import REF, TEXT_REF, Script, Step, StepKind
from voicecoach.tts.delivery import fade_level, fit, settings_for
from voicecoach.types import Cue
from voicecoach.voice import VoiceSettings

# ---------------------------------------------------------------------------------------------
# Actions: what the engine asks its runner to do.


@dataclass(frozen=True)
class Speak:
    """Start this cue now (its ``t`` is the scheduled time; the runner starts it at once)."""

    cue: Cue
    settings: VoiceSettings


@dataclass(frozen=True)
class Hush:
    """Cut any speech now."""


@dataclass(frozen=True)
class Answer:
    """The person answered: record it (the journal writes it at once)."""

    name: str
    value: Any
    kind: str | None
    """The script's journal entry kind, if it keeps one."""


@dataclass(frozen=True)
class Complete:
    """The script's journal entry is complete."""

    kind: str


@dataclass(frozen=True)
class Entry:
    """Write a separate journal entry (a win, say)."""

    kind: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class StepStarted:
    """A step began (for the terminal display)."""

    step: Step
    label: str


@dataclass(frozen=True)
class StartScript:
    """When this script has ended, start another."""

    script_id: str


@dataclass(frozen=True)
class Ended:
    """The script finished: ``completed`` or ``stopped``."""

    status: str


Action = Speak | Hush | Answer | Complete | Entry | StepStarted | StartScript | Ended


@dataclass(frozen=True)
class Listening:
    """What the engine is waiting to hear."""

    name: str
    """The answer's name (or the step label for choose)."""
    kind: StepKind
    mode: str
    """dictation (free text) or command (a closed set: numbers, options)."""
    since: float
    deadline: float | None
    scale: tuple[int, int] | None = None
    options: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# What a step generator yields.


@dataclass(frozen=True)
class _Until:
    t: float


@dataclass(frozen=True)
class _Input:
    listening: Listening


_Wait = _Until | _Input
_StepGen = Generator[_Wait, Any, Any]

COUNT_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
               "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
               "eighteen", "nineteen", "twenty"]

SENTENCE_GAP = 0.3
"""Seconds between two sentences of one step."""
ANSWER_GAP = 0.6
"""Seconds of quiet after an answer before the coach speaks."""
CONTROL_PHRASES = {
    "pause": "Okay. I'll wait. Say resume when you're ready.",
    "resume": "Let's carry on.",
    "slower": "Slower.",
    "faster": "A little faster.",
    "louder": "Louder.",
    "quieter": "Quieter.",
    "help": "You can say stop, pause, next, repeat, slower, faster, louder or quieter at any time.",
}

NO_CONTENT_HELP = ("That's okay. It can be hard to find the words. Take your time: even something small "
                   "counts. Or say skip, and we'll move on.")
"""Said once when a question that needs an answer gets "I don't know" or "nothing"."""

SpeechLength = Callable[[str, VoiceSettings], float]

PASS_WORDS = frozenset({"skip", "next", "pass", "move on", "skip it", "skip this", "skip that", "next one",
                        "nothing", "no plan", "i'd rather not", "rather not", "none"})
"""Answers that mean "no answer" to an optional question, or "move on" in a collect step."""


def is_pass(text: str) -> bool:
    t = re.sub(r"[^a-z' ]+", " ", text.lower())
    t = re.sub(r"\b(please|okay|ok|um|uh|just|let's|lets)\b", " ", t)
    return " ".join(t.split()) in PASS_WORDS


def count_items(text: str) -> list[str]:
    """Split an answer like "the lamp my hands and the window" into items.

    Recognised speech has no punctuation, so items are split at "and", commas, and at each
    article or possessive that starts a new noun phrase; lead-ins like "I can see" are dropped.
    Exactness matters less than encouragement: this errs towards counting what was said.
    """
    t = text.lower()
    t = re.sub(r"[^a-z' ,]+", " ", t)
    t = re.sub(r"\b(i can|i could|i do|i)\s+(see|hear|feel|touch|smell|taste|notice)\b", ",", t)
    t = re.sub(r"\b(there'?s|there is|there are|and then|um+|uh+|er+|like|okay|ok|so|also|maybe|some kind of)\b", ",", t)
    t = re.sub(r"\b(and|plus|then)\b", ",", t)
    t = re.sub(r"\b(the|a|an|my|some|this|that|these|those|your|his|her|our|their)\b", r", \1", t)
    stop = {"the", "a", "an", "my", "some", "this", "that", "these", "those", "your", "his", "her",
            "our", "their", "is", "are", "it", "of", "in", "on", "at", "to", "too", "very", "just",
            "next", "yes", "no", "hmm", "well", "what", "um", "uh"}
    items = []
    for part in t.split(","):
        words = [w for w in part.split() if w]
        content = [w for w in words if w not in stop]
        if not content:
            continue
        if words[0] in stop or len(content) <= 2:
            items.append(" ".join(words))
        else:
            # A bare list of nouns ("lamp window door"): one item per word.
            items.extend(content)
    return items


def _compare(a: Any, op: str, b: Any) -> bool:
    """A ``when: "a < b"`` test; False when either side is missing or not a number."""
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]


_PLAIN_STARTS = frozenset({"when", "because", "the", "my", "he", "she", "they", "it", "we", "you", "a", "an",
                           "that", "this", "to", "being", "not", "feeling", "just", "like", "maybe", "if",
                           "his", "her", "their", "our", "your", "since", "after", "before", "anxious",
                           "sad", "hurt", "lonely", "scared", "angry", "worried", "ignored", "nobody",
                           "everyone", "someone", "having", "getting", "knowing", "for", "so", "and"})


def _fit_after(before: str, value: str) -> str:
    """An answer put into a sentence: words it repeats from just before its place are dropped
    ("when {situation}" + "When you didn't reply" -> "you didn't reply"), a capital that started
    the answer is lowered mid-sentence, and a closing full stop goes."""
    words = value.split()
    lead = re.findall(r"[A-Za-z']+", before)[-3:]
    for n in range(min(len(lead), len(words)), 0, -1):
        tail = [w.lower() for w in lead[-n:]]
        head = [re.sub(r"[^a-z']", "", w.lower()) for w in words[:n]]
        if tail == head:
            words = words[n:]
            break
    out = " ".join(words).rstrip(" .!")
    first = out.split(" ", 1)[0]
    if before.strip() and not before.rstrip().endswith((".", "!", "?")) and first.lower() in _PLAIN_STARTS \
            and first[:1].isupper():
        out = out[0].lower() + out[1:]
    return out


def fill(text: str, values: dict[str, Any]) -> str:
    """Put answers and parameters into ``{name}`` places; a missing one is left out."""

    def sub(m: re.Match) -> str:
        v = values.get(m.group(1))
        if v is None:
            return ""
        if isinstance(v, (list, tuple)):
            return ", ".join(str(x) for x in v)
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, str):
            return _fit_after(text[: m.start()], v)
        return str(v)

    out = TEXT_REF.sub(sub, text)
    return re.sub(r"\s{2,}", " ", re.sub(r"\s+([,.;:!?])", r"\1", out)).strip()


@dataclass
class _Frame:
    gen: _StepGen
    step: Step
    wait: _Wait | None = None


@dataclass
class EngineOptions:
    """How an engine behaves for its runner."""

    answer_timeout: float | None = 25.0
    """Seconds to wait for an answer; None waits for ever (scripted chat)."""
    recall: Callable[[str, str], Any] | None = None
    """Journal look-up for parameter ``recall``."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Values scripts may speak (crisis line, ...)."""
    parse_number: Callable[[str, tuple[int, int]], int | None] | None = None
    find_patterns: Callable[[str, str], list[Any]] | None = None


class Engine:
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
        if self.status == "running" and f is not None and isinstance(f.wait, _Input):
            return f.wait.listening
        return None

    @property
    def next_deadline(self) -> float | None:
        f = self._frame
        if self.status != "running" or f is None or f.wait is None:
            return None
        if isinstance(f.wait, _Until):
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
            ok = _compare(v, cond.op, values.get(cond.other or ""))
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

    def _run_step(self, step: Step) -> _StepGen:
        kind = step.kind
        if kind == StepKind.SAY:
            end = self._say_texts(step.text, step)
            yield _Until(end + self._pause(step))
        elif kind == StepKind.PAUSE:
            yield _Until(self._t + float(self._resolve(step.seconds) or 0))
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
            yield _Until(self._t + seconds)
            if step.checkin:
                end = self._say_texts(step.checkin, step)
                yield _Until(end + self._pause(step))
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

    def _after_answer(self) -> None:
        """Leave a short, human gap after the person spoke (never inside the coach's speech)."""
        self._t = max(self._t, self.speaking_until) + ANSWER_GAP

    def _pause(self, step: Step) -> float:
        return float(self._resolve(step.pause) or 0)

    def _breathe(self, step: Step) -> _StepGen:
        phases = [(p, float(self._resolve(p.seconds) or 1)) for p in step.phases]
        cycle_len = sum(s for _, s in phases) or 1.0
        cycles = self._resolve(step.cycles)
        if cycles is None:
            minutes = float(self._resolve(step.minutes) or 1)
            cycles = max(1, round(minutes * 60 / cycle_len))
        cycles = int(cycles)
        counting = bool(self._resolve(step.counting))
        start_cycle = self._breath_cycle.get(step.index, 0)
        t = self._t
        for c in range(start_cycle, cycles):
            self._breath_cycle[step.index] = c
            pace = self.pace
            fade = fade_level(c / max(1, cycles - 1), step.voice.fade if step.voice is not None else None)
            for spec, seconds in phases:
                length = seconds * pace
                yield _Until(t)
                cue = self._speak(fill(spec.cue, self._values()), t, phase=spec.phase.value,
                                  max_duration=length, step=step, fade=fade)
                if counting:
                    busy_until = cue.t + cue.duration
                    for k in range(1, int(math.floor(length + 1e-9))):
                        tk = t + k
                        if tk + 0.05 >= t + length or busy_until > tk - 0.05:
                            continue  # dropped: it would overlap the cue before it
                        yield _Until(tk)
                        word = COUNT_WORDS[k] if k < len(COUNT_WORDS) else str(k + 1)
                        cc = self._speak(word, tk, phase=spec.phase.value, max_duration=min(1.0, t + length - tk),
                                         step=step, fade=fade)
                        busy_until = cc.t + cc.duration
                t += length
        self._breath_cycle.pop(step.index, None)
        yield _Until(t + self._pause(step))

    def _listen(self, step: Step, since: float, mode: str | None = None, scale=None) -> _Input:
        timeout = self._resolve(step.timeout) if step.timeout is not None else self.options.answer_timeout
        deadline = None if timeout is None or self.options.answer_timeout is None else since + float(timeout)
        return _Input(Listening(step.name or step.label, step.kind, mode or step.mode, since, deadline, scale,
                                tuple(o.label for o in step.options)))

    def _ask(self, step: Step) -> _StepGen:
        name = step.name or step.label  # the validator requires 'as' on ask and rate steps
        question = step.text
        end = self._say_texts(question, step)
        reprompted = False
        unreadable_once = False
        helped = False
        reading_lines: tuple[str, ...] = ()
        asks_again = False
        while True:
            got = yield self._listen(step, end, scale=step.scale if step.kind == StepKind.RATE else None)
            if got is None:
                if reprompted:
                    return None  # a second timeout: the answer stays unset
                reprompted = True
                self._t = max(self._t, end)
                end = self._say_texts(step.reprompt or question, step)
                continue
            text, _intent = got
            text = text.strip()
            if step.optional and (is_pass(text) or _intent == "skip"):
                self._after_answer()
                return None
            if step.kind == StepKind.RATE:
                value = self._number(text, step.scale)
                if value is None:
                    if unreadable_once:
                        return None
                    unreadable_once = True
                    lo, hi = step.scale
                    self._after_answer()
                    end = self._say_texts([f"Sorry, I didn't catch a number. Could you give me one from {lo} to {hi}?"], step)
                    continue
            else:
                value = text
                reading = read_answer(step.expects or Expects.FREE_TEXT, text).value
                if reading == "no_content" and not step.optional and "no_content" not in step.replies:
                    reading_lines = (NO_CONTENT_HELP,)
                else:
                    reading_lines = step.replies.get(reading, ())
                asks_again = reading in step.again or (reading == "no_content" and not step.optional
                                                       and "no_content" not in step.replies)
                if asks_again and not helped:
                    helped = True
                    self._after_answer()
                    end = self._say_texts(list(reading_lines) or [step.reprompt[0] if step.reprompt else question[0]], step)
                    continue
                self.answers[name + "_reading"] = reading
            self.answers[name] = value
            self._out.append(Answer(name, value, self.script.journal))
            self._after_answer()
            if step.kind != StepKind.RATE and reading_lines and not asks_again:
                self._say_texts(list(reading_lines), step)
            end = self._t
            p = self._pause(step)
            if p:
                yield _Until(end + p)
            return None

    def _number(self, text: str, scale: tuple[int, int]) -> int | None:
        if self.options.parse_number is not None:
            return self.options.parse_number(text, scale)
        from voicecoach.numbers import parse_number

        return parse_number(text, scale)

    def _collect(self, step: Step) -> _StepGen:
        name = step.name or step.label
        count = int(self._resolve(step.count) or 1)
        end = self._say_texts(step.text, step)
        items: list[str] = []
        reprompted = False
        while len(items) < count:
            got = yield self._listen(step, end)
            if got is None:
                if reprompted or items:
                    break
                reprompted = True
                self._t = max(self._t, end)
                end = self._say_texts(step.reprompt or ["Take your time. Anything at all is fine."], step)
                continue
            text, _intent = got
            if is_pass(text) or _intent == "skip":
                break
            new = count_items(text) or [text.strip()]
            items.extend(new)
            self.answers[name] = list(items)
            self._out.append(Answer(name, list(items), self.script.journal))
            left = count - len(items)
            self._after_answer()
            extra = {"got": len(items), "left": max(0, left), "count": count}
            if left > 0:
                lines = step.encourage or ["Good. {left} more."]
                end = self._say_texts([lines[(len(items) - 1) % len(lines)]], step, extra)
        done = step.done or ["Well done."]
        end = self._say_texts(done, step, {"got": len(items), "left": 0, "count": count})
        yield _Until(end + max(0.5, self._pause(step)))

    def _choose(self, step: Step) -> _StepGen:
        end = self._say_texts(step.text, step)
        reprompted = False
        while True:
            got = yield self._listen(step, end)
            choice = None
            if got is not None:
                text, intent = got
                choice = self._match_option(step, text, intent)
                if choice is None and not reprompted:
                    reprompted = True
                    self._after_answer()
                    labels = [o.label for o in step.options]
                    hint = step.reprompt or [f"Sorry, I didn't catch that. You can say {', '.join(labels[:-1])} or {labels[-1]}." if len(labels) > 1 else "Sorry, could you say that again?"]
                    end = self._say_texts(hint, step)
                    continue
            elif not reprompted and step.default is None:
                reprompted = True
                self._t = max(self._t, end)
                end = self._say_texts(step.reprompt or step.text, step)
                continue
            if choice is None:
                if step.default is None:
                    return None
                choice = step.options[step.default]
            if step.name:
                self.answers[step.name] = choice.label
                self._out.append(Answer(step.name, choice.label, self.script.journal))
            if got is not None:
                self._after_answer()
            if choice.say:
                end = self._say_texts(choice.say, step)
                yield _Until(end + 0.4)
            if choice.goto:
                return ("goto", choice.goto)
            if choice.start:
                return ("start", choice.start)
            if choice.end:
                return ("end", None)
            return None

    @staticmethod
    def _match_option(step: Step, text: str, intent: str | None):
        """The option an answer picks: by intent, then by the earliest phrase said that is not
        negated ("not breathing, grounding" picks grounding); for a yes/no choice, the answer is
        read as yes, no or unclear first ("no thanks", "I'd rather not", "maybe")."""
        words = " " + re.sub(r"[^a-z0-9' ]+", " ", text.lower()) + " "
        labels = {o.label: o for o in step.options}
        if step.expects == "yes_no" or ({"yes", "no"} <= set(labels) and len(labels) == 2):
            reading = read_yes_no(text).value
            if reading in labels:
                return labels[reading]
            if reading == "unclear" and step.expects == "yes_no":
                return None
        for opt in step.options:
            if opt.intent and intent == opt.intent:
                return opt
        best = None
        best_pos = None
        for opt in step.options:
            for m in opt.match:
                for found in re.finditer(re.escape(" " + m + " "), words):
                    pos = found.start()
                    before = words[:pos].split()[-2:]
                    if m not in ("no", "not", "nothing", "neither") and any(
                            w in ("not", "no", "dont", "don't", "never", "without") for w in before):
                        continue
                    if best_pos is None or pos < best_pos:
                        best, best_pos = opt, pos
                    break
        return best

    def _notice(self, step: Step) -> _StepGen:
        text = self.answers.get(step.target or "")
        hits = []
        if isinstance(text, str) and text:
            if self.options.find_patterns is not None:
                hits = list(self.options.find_patterns(step.patterns, text))
            else:
                from voicecoach.patterns import find

                hits = list(find(step.patterns, text))
        if step.name:
            names = [h.name for h in hits]
            self.answers[step.name] = names
            if names:
                self._out.append(Answer(step.name, names, self.script.journal))
        lines = [h.line for h in hits[:2]] if hits else list(step.none_text)
        if lines:
            end = self._say_texts(lines, step)
            yield _Until(end + max(0.4, self._pause(step)))

"""Test helpers, each defined once: the scenario helpers for dialogues (inputs at times → the
cues spoken; a whole conversation through the scripted chat's runner), the virtual clock and the
runner's input queue on it, the word error rate, and a fake pyttsx3 driver.

The clock is virtual (the engine never reads one); the speaker is a length function. Everything
else — the YAML loader, the script, the engine — is real.
"""

from __future__ import annotations

import gc
import io
import queue
import re
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicecoach.engine import Action, Answer, Engine, EngineOptions, Hush, Speak
from voicecoach.scripts import Library, Script, load_script_text
from voicecoach.session import Printer, VirtualChat
from voicecoach.types import Cue


def text_length(text: str, settings: Any = None) -> float:
    """A stand-in speaker: 0.2 s plus 60 ms a character, slower at lower rates."""
    rate = getattr(settings, "rate", 1.0) or 1.0
    return (0.2 + 0.06 * len(text)) / rate


@dataclass
class Dialogue:
    cues: list[Cue]
    answers: dict[str, Any]
    actions: list[Action]
    engine: Engine
    hushes: list[float] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.cues]

    def spoken(self) -> str:
        return " | ".join(self.texts)


def script_from(text: str) -> Script:
    script, errors = load_script_text(text, "test.yaml")
    assert script is not None, errors
    return script


def builtin(script_id: str) -> Script:
    return Library.load(None).get(script_id)


def run_dialogue(script: Script | str, events: list[tuple[float | None, str]] = (), *,
                 params: dict[str, Any] | None = None, length=text_length,
                 answer_timeout: float | None = 25.0, until: float | None = None,
                 options: EngineOptions | None = None) -> Dialogue:
    """Run a script against timed events.

    Each event is ``(t, what)``: ``what`` is a control intent written ``"!stop"``, ``"!skip"``...
    or an answer's text. ``t=None`` means "as soon as the engine listens" (plus a second).
    Runs until the script ends, or the clock passes ``until``.
    """
    if isinstance(script, str):
        script = builtin(script) if "\n" not in script else script_from(script)
    opts = options or EngineOptions(answer_timeout=answer_timeout)
    eng = Engine(script, length, params, opts)
    actions: list[Action] = list(eng.start(0.0))
    pending = list(events)
    now = 0.0
    hushes: list[float] = []
    guard = 0
    while not eng.done:
        guard += 1
        assert guard < 200000, "dialogue did not end"
        nxt_event = None
        if pending:
            t, what = pending[0]
            if t is None:
                lst = eng.listening
                if lst is not None:
                    t = max(now, lst.since, eng.speaking_until) + 1.0
            nxt_event = t
        deadline = eng.next_deadline
        if nxt_event is not None and (deadline is None or nxt_event <= deadline):
            now = max(now, nxt_event)
            _, what = pending.pop(0)
            if what.startswith("!"):
                got = eng.control(now, what[1:])
            else:
                got = eng.hear(now, what)
            if any(isinstance(a, Hush) for a in got):
                hushes.append(now)
            actions += got
            continue
        if deadline is None:
            break
        if until is not None and deadline > until:
            break
        now = max(now, deadline)
        actions += eng.tick(now)
    cues = [a.cue for a in actions if isinstance(a, Speak)]
    answers = {a.name: a.value for a in actions if isinstance(a, Answer)}
    return Dialogue(cues, answers, actions, eng, hushes)


def advance(coach: Any, now: float, until_listening: bool = True, limit: float = 10_000.0) -> tuple[float, list[str]]:
    """Tick a coach through its deadlines until it listens (or is idle); returns (now, spoken texts)."""
    spoken: list[str] = []
    while not coach.idle and (coach.listening is None or not until_listening):
        d = coach.next_deadline
        if d is None or d > limit:
            break
        now = max(now, d)
        spoken += [a.cue.text for a in coach.tick(now) if isinstance(a, Speak)]
    return now, spoken


def say(coach: Any, now: float, text: str) -> tuple[Any, list[Any], list[str]]:
    """The coach hears ``text`` at ``now``: (its match, its actions, the texts it speaks)."""
    m, actions = coach.hear(now, text)
    return m, actions, [a.cue.text for a in actions if isinstance(a, Speak)]


@dataclass
class Turn:
    said: str
    match: Any
    """The coach's IntentMatch for what was said."""
    spoken: list[str]
    """What the coach said from hearing it until it listened again (or went idle)."""


@dataclass
class Conversation:
    opening: list[str]
    """What the coach said before the first turn."""
    turns: list[Turn]

    def spoken(self) -> list[str]:
        return self.opening + [t for turn in self.turns for t in turn.spoken]


class _Transcript(Printer):
    """What a scripted chat said, turn by turn: ``turns[0]`` before the first line."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.turns: list[list[str]] = [[]]

    def action(self, a: Any) -> None:
        if isinstance(a, Speak):
            self.turns[-1].append(a.cue.text)

    def you(self, text: str) -> None:
        self.turns.append([])


def converse(coach: Any, utterances: list[str], *, script: str | None = None, pause: float = 1.0) -> Conversation:
    """A whole conversation with a coach, run by the scripted chat's runner on its virtual clock:
    it begins (with ``script`` if given), and each utterance is said ``pause`` seconds after the
    coach falls silent, once it listens (or falls idle). Returns what the coach said before and
    after each one; the session is left open."""
    first = coach.begin(0.0, script) if script else coach.begin(0.0)
    transcript = _Transcript()
    chat = VirtualChat(coach, transcript)
    chat.talk(utterances, first, pause=pause)
    opening, *after = transcript.turns
    return Conversation(opening, [Turn(text, m, spoken) for (text, m), spoken in zip(chat.heard, after, strict=True)])


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


class FakePyttsx3Driver:
    """The boundary of pyttsx3 (its driver plug-in), for tests of what the voice does when the
    synthesiser misbehaves. Subclasses decide what ``startLoop`` does; ``write_tone`` stands in
    for synthesis."""

    def __init__(self, proxy):
        self._proxy = proxy
        self._looping = False
        self._file = None
        self._text = ""

    def destroy(self):
        pass

    def say(self, text):
        self._text = text

    def save_to_file(self, text, filename):
        self._text, self._file = text, filename

    def stop(self):
        pass

    def getProperty(self, name):
        return {"voices": [], "voice": "test", "rate": 200, "volume": 1.0}[name]

    def setProperty(self, name, value):
        pass

    def endLoop(self):
        self._looping = False

    def iterate(self):
        pass

    def write_tone(self, seconds: float, lead: float = 0.0, tail: float = 0.0) -> None:
        import wave

        import numpy as np

        rate = 22050
        t = np.arange(int(seconds * rate)) / rate
        tone = (8000 * np.sin(2 * np.pi * 300 * t)).astype("<i2")
        pcm = np.concatenate([np.zeros(int(lead * rate), "<i2"), tone, np.zeros(int(tail * rate), "<i2")])
        with wave.open(self._file, "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(rate)
            f.writeframes(pcm.tobytes())


class VirtualClock:
    """Time that moves only when a test (or the runner's input queue) moves it."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def rss_bytes() -> int:
    """This process's resident memory."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


class ClockQueue:
    """The runner's input queue, waiting on the virtual clock: a ``get`` that times out moves the
    clock on by its timeout. Samples RSS every virtual minute."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.items: list[object] = []
        self.rss: list[tuple[float, int]] = []
        self._next_sample = clock.t

    def put(self, item: object) -> None:
        self.items.append(item)

    def get(self, timeout: float | None = None) -> object:
        if self.items:
            return self.items.pop(0)
        self.clock.t += max(0.0, timeout or 0.0)
        if self.clock.t >= self._next_sample:
            gc.collect()
            self.rss.append((self.clock.t, rss_bytes()))
            self._next_sample += 60.0
        raise queue.Empty


def words_of(text: str) -> list[str]:
    """Lower-case words, punctuation dropped (apostrophes kept), for comparing transcripts."""
    return re.sub(r"[^a-z' ]", "", text.lower().replace("\u2019", "'")).split()


def wer_counts(ref: str, hyp: str) -> tuple[int, int]:
    """Word errors (substitutions, insertions, deletions) of ``hyp`` against ``ref``, and the
    number of words in ``ref``: the word error rate is their ratio."""
    r, h = words_of(ref), words_of(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)], len(r)

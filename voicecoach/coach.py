"""The coach: one conversation across scripts, with the crisis screen in front of everything.

Every utterance, in every state, goes through the crisis screen first. Then, inside a running
session, control intents (stop, pause, skip...) go to the engine; an answer goes to the step
that is listening; a request for another technique switches session. When idle, a request
starts the script for its intent, and an unclear one is asked back instead of guessed.

The coach also keeps the journal: a session row per script run, every answer written the moment
it is given, and the entry marked complete only when the script says so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from voicecoach.answers import read_risk, read_safety
from voicecoach.engine import (
    Action,
    Answer,
    Complete,
    Ended,
    Engine,
    EngineOptions,
    Entry,
    Hush,
    Listening,
    Speak,
    StartScript,
    VoiceSettings,
)
from voicecoach.errors import VoicecoachError
from voicecoach.journal import JournalStore
from voicecoach.memory import Memory
from voicecoach.scripts import Library, Script, StepKind
from voicecoach.types import Cue, IntentMatch

if TYPE_CHECKING:
    from voicecoach.crisis_lines import CrisisLine
    from voicecoach.matcher import IntentMatcher

T = TypeVar("T")

log = logging.getLogger(__name__)

CRISIS_SCRIPT = "crisis-support"
SAFETY_FLAG = "check_safety"

ASK_BACK = "I want to make sure I help in the right way. Would you like to breathe together, or talk a thought through?"
ASK_DIRECTLY = "Can I gently check something? Are you thinking about hurting yourself, or about ending your life?"
ASK_SAFE = "Last time we talked, things felt really heavy. Before we start: are you safe right now?"
THANKS_SAFE = "Thank you. I'm really glad you're safe. I'm here with you."
THANKS_DIRECT = "Thank you for telling me. I'm glad. I'm here with you, and we can go gently."
# Spoken with the region's crisis-line values (voicecoach.crisis_lines.script_values).
UNSURE_SAFE = ("That's okay. I'd rather be sure you're safe. If things feel heavy, you can reach "
               "{crisis_line_name}, {crisis_line_reach}. {crisis_line_text} If you're in danger, call "
               "{emergency_number}. I'll ask again next time.")
UNSURE_DIRECT = ("Thank you for being honest. If you're not sure, that's a reason to talk to someone "
                 "tonight. You can reach {crisis_line_name}, {crisis_line_reach}. {crisis_line_text} If "
                 "you're in danger, call {emergency_number}.")
NO_ANSWER = ("I'll keep this on your screen: you can reach {crisis_line_name}, {crisis_line_reach}. If "
             "you're in danger, call {emergency_number}.")
STOP_IN_CRISIS = ("Okay, I'll be quiet. Please keep this close: {crisis_line_name}, {crisis_line_reach}. "
                  "If you're in danger, call {emergency_number}.")
FLAG_FAILED = ("I couldn't save a note to check on you next time, so please remember: you can always "
               "say you're not okay, and I'll give you the number again.")
GOODBYE = "Take care of yourself. I'm here whenever you need me."
WELCOME = "You're welcome. I'm here whenever you need me."
HELP_IDLE = ("You can say things like: I'm anxious. Help me breathe. Ground me. I can't sleep. "
             "Help me reframe a thought. Or: I want to text him again.")
FIXED_LINES = (ASK_DIRECTLY, ASK_BACK, THANKS_SAFE, THANKS_DIRECT, GOODBYE, WELCOME, HELP_IDLE)
"""The coach's own lines that need no filling in: synthesised before a live session
(:func:`voicecoach.cue_plan.warm`), so none waits on the synthesiser when it is said."""


@dataclass(frozen=True)
class Show:
    """Text for the screen that stays there (crisis resources, notices)."""

    text: str
    kind: str = "notice"
    """notice, resources, heard."""


CoachAction = Action | Show


class Coach:
    """A conversation. Runners call :meth:`begin`, then :meth:`hear` and :meth:`tick`."""

    def __init__(self, library: Library, speech_length: Callable[[str, VoiceSettings], float], *,
                 matcher: IntentMatcher | None = None, journal: JournalStore | None = None, region: str = "auto",
                 answer_timeout: float | None = 25.0, home: Path | None = None,
                 base_voice: VoiceSettings | None = None):
        self.library = library
        self.speech_length = speech_length
        self.matcher = matcher
        self.journal = journal
        self.region = region
        self.answer_timeout = answer_timeout
        self.home = home
        self.base_voice = base_voice or VoiceSettings()
        self.engine: Engine | None = None
        self.script_defaults: dict[str, Any] = {}
        """Parameter values every script started gets where it has that parameter (the demo's
        short sessions); parameters given to :meth:`start_script` win."""
        self.controls = matcher.acting("control") if matcher is not None else frozenset()
        """Intents that steer a running session (declared in intents.yaml: ``acts: [control]``)."""
        self.session_id: int | None = None
        self.pending: str | None = None
        """A yes/no the coach itself asked: ask_directly, safety_check."""
        self._pending_since = 0.0
        self._paused_for_check = False
        self._busy_until = 0.0
        self._queued: tuple[str, dict[str, Any]] | None = None
        self._queued_at = 0.0
        self.in_crisis = False
        self._journal_warned = False
        self.ended: list[tuple[str, str]] = []
        """(script id, status) of every script that ran."""
        self._queued_after_check: tuple[str, dict[str, Any]] | None = None
        self.memory = Memory(journal, library)
        """What helped and what was planned (voicecoach/memory.py)."""

    # -- state for runners --------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """Nothing running, nothing queued, nothing asked."""
        return self.engine is None and self._queued is None and self.pending is None

    @property
    def listening(self) -> Listening | None:
        if self.pending is not None:
            return Listening(self.pending, StepKind.CHOOSE, "command", self._pending_since,
                             None if self.answer_timeout is None else self._pending_since + self.answer_timeout)
        if self.engine is not None:
            return self.engine.listening
        return None

    @property
    def next_deadline(self) -> float | None:
        times = []
        if self._queued is not None:
            times.append(self._queued_at)
        if self.engine is not None and self.engine.next_deadline is not None:
            times.append(self.engine.next_deadline)
        lst = self.listening
        if self.pending is not None and lst is not None and lst.deadline is not None:
            times.append(lst.deadline)
        return min(times) if times else None

    @property
    def speaking_until(self) -> float:
        t = self._busy_until
        if self.engine is not None:
            t = max(t, self.engine.speaking_until)
        return t

    @property
    def script(self) -> Script | None:
        return self.engine.script if self.engine else None

    # -- events -------------------------------------------------------------------------------

    def begin(self, now: float, script_id: str | None = None, params: dict[str, Any] | None = None,
              disclaimer: str | None = None) -> list[CoachAction]:
        """Start the conversation: the first-run disclaimer, the safety check after a crisis,
        then the given script (if any)."""
        out: list[CoachAction] = []
        t = now
        if disclaimer and self._first_run():
            t = self._say(out, disclaimer, t) + 0.6
            self._mark_first_run()
        if self._crisis_flag():
            t = self._say(out, ASK_SAFE, t)
            self.pending = "safety_check"
            self._pending_since = t
            if script_id:
                self._queued_after_check = (script_id, params or {})
            return out
        if script_id:
            out += self.start_script(t, script_id, params)
        else:
            self._remember(out, t)
        return out

    def _remember(self, out: list[CoachAction], t: float) -> None:
        """An open conversation starts with the follow-up of the last plan, if one is due."""
        question = self.memory.opening(t)
        if question:
            self._say(out, question, t)

    def start_script(self, now: float, script_id: str, params: dict[str, Any] | None = None) -> list[CoachAction]:
        out: list[CoachAction] = []
        if self.engine is not None:
            out += self._handle(self.engine.control(now, "stop"), now)
        script = self.library.get(script_id)
        params = {**{k: v for k, v in self.script_defaults.items() if k in script.params}, **(params or {})}
        extras = {"script_title": script.title}
        if script.id == CRISIS_SCRIPT:
            from voicecoach.crisis_lines import script_values

            extras.update(script_values(self.region))
        recall = self._recall if self.journal is not None else None
        options = EngineOptions(answer_timeout=self.answer_timeout, recall=recall, extras=extras)
        self.engine = Engine(script, self._length, params, options)
        self.engine.rate *= self.base_voice.rate
        self.engine.volume *= self.base_voice.volume
        self.session_id = None
        if self.journal is not None:
            self.session_id = self._journal(lambda j: j.begin_session, script.id)
        start = max(now, self._busy_until)
        out += self._handle(self.engine.start(start), now)
        return out

    def tick(self, now: float) -> list[CoachAction]:
        out: list[CoachAction] = []
        if self._queued is not None and now >= self._queued_at - 1e-9:
            sid, params = self._queued
            self._queued = None
            out += self.start_script(self._queued_at, sid, params)
        if self.pending is not None:
            lst = self.listening
            if lst is not None and lst.deadline is not None and now >= lst.deadline:
                out += self._pending_timeout(lst.deadline)
        if self.engine is not None:
            out += self._handle(self.engine.tick(now), now)
        return out

    def hear(self, now: float, text: str, *, speaking: bool = False,
             match: IntentMatch | None = None) -> tuple[IntentMatch, list[CoachAction]]:
        """An utterance (typed or recognised). ``speaking``: the coach was talking when it came,
        so only control intents and crisis statements count. ``match``: the utterance's intent when
        the runner already matched it in the coach's current state (see :meth:`match`); the
        utterance is then not matched again."""
        text = " ".join(text.split())
        engine = self.engine
        in_session = engine is not None and not engine.done
        expecting = self.listening is not None
        m = match if match is not None and match.text == text else self.match(text)
        out: list[CoachAction] = []
        if not text:
            return m, out
        if m.crisis:
            return m, self._crisis(now)
        if m.slots.get("ask_directly") and self.pending is None and not (engine and engine.script.id == CRISIS_SCRIPT):
            return m, self._ask_directly(now)
        if self.pending is not None:
            return m, self._answer_pending(now, text, m)
        if in_session:
            assert engine is not None
            if m.name in self.controls and (m.name != "skip" or not expecting or self._clearly_command(text)):
                if engine.script.id == CRISIS_SCRIPT and m.name in ("stop", "goodbye"):
                    out += self._handle(engine.control(now, "stop"), now)
                    self._busy_until = now
                    self._say(out, self._line_again(STOP_IN_CRISIS), now + 0.3)
                    out.append(Show(self._resources_text(), "resources"))
                    return m, out
                return m, self._handle(engine.control(now, m.name), now)
            if speaking and not expecting:
                return m, out
            if engine.listening is not None:
                return m, self._handle(engine.hear(now, text, m.name), now)
            target = self._script_for(m)
            if target is not None and target.id != engine.script.id:
                out += self._handle(engine.control(now, "stop"), now)
                out += self.start_script(max(now, self._busy_until) + 0.3, target.id, self._slot_params(m, target))
            return m, out
        if speaking:
            return m, out
        return m, self._idle_request(now, m)

    def close(self, status: str = "interrupted") -> None:
        """The runner is ending (end of input, Ctrl-C): close the session row; answers given
        are already saved."""
        if self.engine is not None and not self.engine.done:
            self.engine.status = "done"
            self._end_session(status)
        self.engine = None

    # -- internals ----------------------------------------------------------------------------

    def _length(self, text: str, settings: VoiceSettings) -> float:
        return self.speech_length(text, settings)

    def _say(self, out: list[CoachAction], text: str, at: float) -> float:
        at = max(at, self._busy_until, self.engine.speaking_until if self.engine else 0.0)
        settings = self.base_voice
        length = float(self.speech_length(text, settings))
        out.append(Speak(Cue(t=at, duration=length, text=text), settings))
        self._busy_until = at + length
        return self._busy_until

    def match(self, text: str) -> IntentMatch:
        """The intent of ``text`` in the coach's current state (in a session, expecting an answer),
        with the matcher's crisis screen first. Runners that need the match early (the live loop's
        barge-in) call this and pass the result to :meth:`hear`."""
        text = " ".join(text.split())
        if self.matcher is None:
            from voicecoach.crisis import screen

            found = screen(text)
            if found.is_crisis:
                return IntentMatch("crisis", 1.0, {"category": found.category}, best="crisis", crisis=True, text=text)
            slots: dict[str, object] = {"ask_directly": True} if found.ask_directly else {}
            return IntentMatch("crisis_check" if found.ask_directly else None, 0.0, slots, text=text)
        in_session = self.engine is not None and not self.engine.done
        return self.matcher.match(text, in_session=in_session, expecting_answer=self.listening is not None)

    @staticmethod
    def _clearly_command(text: str) -> bool:
        words = text.lower().split()
        return len(words) <= 3

    def _script_for(self, m: IntentMatch) -> Script | None:
        if not m.name:
            return None
        return self.library.for_intent(m.name, m.slots)

    @staticmethod
    def _slot_params(m: IntentMatch, script: Script) -> dict[str, Any]:
        params = {}
        minutes = m.slots.get("minutes")
        if minutes is not None and "minutes" in script.params:
            params["minutes"] = minutes
        return params

    def _idle_request(self, now: float, m: IntentMatch) -> list[CoachAction]:
        out: list[CoachAction] = []
        # Answer at once: recognition has already taken the natural turn gap.
        t = max(now, self._busy_until)
        if m.name == "goodbye":
            self._say(out, GOODBYE, t)
            return out
        if m.name == "help":
            self._say(out, HELP_IDLE, t)
            return out
        if m.name == "thanks":
            self._say(out, WELCOME, t)
            return out
        reply = self.memory.respond(t, m)
        if reply is not None:
            for text in reply.say:
                t = self._say(out, text, t)
            if reply.start:
                out += self.start_script(t + 0.4, reply.start, reply.params)
            return out
        script = self._script_for(m)
        if script is None:
            if m.name in ("stop", "pause", "quieter", "no", "skip"):
                return out  # nothing to stop: stay quiet
            self._say(out, ASK_BACK, t)
            return out
        out += self.start_script(t, script.id, self._slot_params(m, script))
        return out

    def _crisis(self, now: float) -> list[CoachAction]:
        out: list[CoachAction] = []
        self.pending = None
        self._queued = None
        self.in_crisis = True
        saved = self._write_crisis_flag(True, None)
        if self.engine is not None and self.engine.script.id == CRISIS_SCRIPT and not self.engine.done:
            # Already there: go back to the resources rather than start over mid-sentence.
            out += self._handle(self.engine.control(now, "repeat"), now)
            out.append(Show(self._resources_text(), "resources"))
            return out
        if self.engine is not None:
            out += self._handle(self.engine.control(now, "stop"), now, status="crisis")
            out.append(Hush())
        out.append(Show(self._resources_text(), "resources"))
        self._busy_until = now
        out += self.start_script(now, CRISIS_SCRIPT)
        if not saved:
            out.append(Show(FLAG_FAILED, "notice"))
        return out

    def _ask_directly(self, now: float) -> list[CoachAction]:
        out: list[CoachAction] = []
        if self.engine is not None and self.engine.status == "running":
            out += self._handle(self.engine.control(now, "pause"), now, quiet=True)
            self._paused_for_check = True
        out.append(Hush())
        self._busy_until = now
        end = self._say(out, ASK_DIRECTLY, now)
        self.pending = "ask_directly"
        self._pending_since = end
        return out

    def _answer_pending(self, now: float, text: str, m: IntentMatch) -> list[CoachAction]:
        """An answer to a question the coach itself asked. Both are safety questions, so an
        unclear answer is read as the unsafe one (voicecoach.answers)."""
        kind = self.pending
        out: list[CoachAction] = []
        if kind == "ask_directly":
            reading = read_risk(text)
            log.debug("answer to the direct question read as %s (%s)", reading.value, reading.why)
            if reading.value == "yes":
                return self._crisis(now)
            self.pending = None
            if reading.value == "unsure":
                self._set_crisis_flag(out)
                end = self._say(out, self._line_again(UNSURE_DIRECT), now + 0.4)
            else:
                end = self._say(out, THANKS_DIRECT, now + 0.4)
            out.append(Show(self._resources_text(), "resources"))
            out += self._resume_after_check(end + 0.5)
            return out
        if kind == "safety_check":
            reading = read_safety(text)
            log.debug("answer to the safety check read as %s (%s)", reading.value, reading.why)
            self.pending = None
            if reading.value == "unsafe":
                self._queued_after_check = None
                return self._crisis(now)
            if reading.value == "unsure":
                # Not a clear yes: the line again, gently; asked again next session.
                end = self._say(out, self._line_again(UNSURE_SAFE), now + 0.4)
                out.append(Show(self._resources_text(), "resources"))
            else:
                self._clear_crisis_flag(out)
                end = self._say(out, THANKS_SAFE, now + 0.4)
                if self._queued_after_check is None:
                    self._remember(out, end + 0.4)
            out += self._after_safety_check(end + 0.5)
            return out
        self.pending = None
        return out

    def _after_safety_check(self, at: float) -> list[CoachAction]:
        """What the person came for, once the safety check is answered."""
        queued = self._queued_after_check
        self._queued_after_check = None
        if queued:
            return self.start_script(at, queued[0], queued[1])
        return []

    def _line(self) -> CrisisLine:
        from voicecoach.crisis_lines import lines_for

        return lines_for(self.region)

    def _resources_text(self) -> str:
        return f"If you are in danger or thinking of ending your life: {self._line().printed()}"

    def _line_again(self, template: str) -> str:
        from voicecoach.crisis_lines import script_values

        return template.format(**script_values(self.region))

    def _pending_timeout(self, at: float) -> list[CoachAction]:
        """No answer to a safety question: read as unsure, so the line is said once more and the
        check stays for next session; then the session goes on."""
        out: list[CoachAction] = []
        kind = self.pending
        self.pending = None
        self._set_crisis_flag(out)
        end = self._say(out, self._line_again(NO_ANSWER), at)
        out.append(Show(self._resources_text(), "resources"))
        if kind == "safety_check":
            return out + self._after_safety_check(end + 0.5)
        return out + self._resume_after_check(end + 0.5)

    def _resume_after_check(self, at: float) -> list[CoachAction]:
        if self._paused_for_check and self.engine is not None:
            self._paused_for_check = False
            return self._handle(self.engine.control(at, "resume"), at)
        return []

    def _handle(self, actions: list[Action], now: float, status: str | None = None, quiet: bool = False) -> list[CoachAction]:
        """Keep the journal from engine actions; pass the rest on to the runner."""
        out: list[CoachAction] = []
        sid = self.session_id
        for a in actions:
            if isinstance(a, Answer):
                if a.kind and sid is not None:
                    self._journal(lambda j: j.record_answer, sid, a.kind, a.name, a.value)
            elif isinstance(a, Complete):
                if sid is not None:
                    self._journal(lambda j: j.complete_entry, sid, a.kind)
            elif isinstance(a, Entry):
                self._journal(lambda j: j.add_entry, a.kind, a.fields, sid, True)
            elif isinstance(a, StartScript):
                self._queued = (a.script_id, {})
                self._queued_at = max(now, self.engine.speaking_until if self.engine else now) + 0.5
            elif isinstance(a, Ended):
                self._end_session(status or a.status)
                out.append(a)
            elif quiet and isinstance(a, Speak):
                continue
            else:
                out.append(a)
        if self.engine is not None and self.engine.done:
            self._busy_until = max(self._busy_until, self.engine.speaking_until)
            self.engine = None
        return out

    def _end_session(self, status: str) -> None:
        if self.engine is not None:
            self.ended.append((self.engine.script.id, status))
        sid = self.session_id
        if sid is not None:
            self._journal(lambda j: j.end_session, sid, status)
            self.session_id = None

    def _journal(self, method: Callable[[JournalStore], Callable[..., T]], *args: Any) -> T | None:
        """One journal call, ``method(journal)(*args)``; a failure is reported once and the
        conversation goes on (every answer given before it is already saved)."""
        if self.journal is None:
            return None
        try:
            return method(self.journal)(*args)
        except VoicecoachError as exc:
            if not self._journal_warned:
                self._journal_warned = True
                log.warning("%s", exc)
                print(f"voicecoach: could not save to the journal: {exc}", flush=True)
            return None

    def _recall(self, kind: str, field: str) -> Any:
        return self._journal(lambda j: j.last_value, kind, field)

    # -- small persistent flags in the data directory --------------------------------------------

    def _flag(self, name: str) -> Path | None:
        return self.home / name if self.home is not None else None

    def _first_run(self) -> bool:
        p = self._flag(".disclaimer-spoken")
        return p is not None and not p.exists()

    def _mark_first_run(self) -> None:
        self._touch(self._flag(".disclaimer-spoken"))

    def _crisis_flag(self) -> bool:
        """Whether the next session starts with "are you safe?". Kept in the journal (one
        transaction); without a journal, in a file in the data directory. When it cannot be
        read, the check is asked: unsure reads as unsafe."""
        if self.journal is not None:
            try:
                return bool(self.journal.flag(SAFETY_FLAG))
            except VoicecoachError as exc:
                log.warning("%s", exc)
                return True
        p = self._flag(".check-safety")
        return p is not None and p.exists()

    def _set_crisis_flag(self, out: list[CoachAction] | None = None) -> None:
        self._write_crisis_flag(True, out)

    def _clear_crisis_flag(self, out: list[CoachAction] | None = None) -> None:
        self._write_crisis_flag(False, out)

    def _write_crisis_flag(self, on: bool, out: list[CoachAction] | None) -> bool:
        """Write the after-crisis flag durably; a failure is said out loud (into ``out``), or
        shown, never swallowed. True when it was saved."""
        try:
            if self.journal is not None:
                self.journal.set_flag(SAFETY_FLAG, on)
                return True
            p = self._flag(".check-safety")
            if p is None:
                return True
            if on:
                p.parent.mkdir(parents=True, exist_ok=True)
                with open(p, "w") as f:
                    f.flush()
                    os.fsync(f.fileno())
            else:
                p.unlink(missing_ok=True)
            return True
        except (OSError, VoicecoachError) as exc:
            log.warning("could not save the safety note: %s", exc)
            print(f"voicecoach: could not save the safety note: {exc}", flush=True)
            if on and out is not None:
                self._say(out, FLAG_FAILED, self._busy_until)
            return False

    @staticmethod
    def _touch(p: Path | None) -> None:
        if p is None:
            return
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch()
        except OSError:
            pass

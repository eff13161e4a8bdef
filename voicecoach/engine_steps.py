"""The step kinds that wait and listen (breathe, ask, rate, collect, choose, notice), as
generators the :class:`voicecoach.engine.Engine` resumes at their scheduled times. The engine's
core (events, flow, speaking) is in :mod:`voicecoach.engine`."""

from __future__ import annotations

import math
import re
from typing import Any

from voicecoach.actions import (
    Action,
    Answer,
    EngineOptions,
    Input,
    Listening,
    StepGen,
    Until,
)
from voicecoach.answers import Expects, read_answer, read_yes_no
from voicecoach.script_model import Script, Step, StepKind
from voicecoach.script_text import COUNT_WORDS, count_items, fill, is_pass
from voicecoach.tts.delivery import fade_level
from voicecoach.types import Cue

ANSWER_GAP = 0.6
"""Seconds of quiet after an answer before the coach speaks."""
NO_CONTENT_HELP = ("That's okay. It can be hard to find the words. Take your time: even something small "
                   "counts. Or say skip, and we'll move on.")
"""Said once when a question that needs an answer gets "I don't know" or "nothing"."""


class StepRunner:
    """The waiting step kinds. :class:`voicecoach.engine.Engine` provides the state and the
    speaking methods declared here."""

    script: Script
    options: EngineOptions
    answers: dict[str, Any]
    pace: float
    speaking_until: float
    _out: list[Action]
    _t: float
    _breath_cycle: dict[int, int]

    def _say_texts(self, texts: tuple[str, ...] | list[str], step: Step | None,
                   extra: dict[str, Any] | None = None) -> float:
        raise NotImplementedError

    def _speak(self, text: str, at: float, phase: str | None = None, max_duration: float | None = None,
               step: Step | None = None, fade: float = 1.0) -> Cue:
        raise NotImplementedError

    def _values(self) -> dict[str, Any]:
        raise NotImplementedError

    def _resolve(self, value: Any) -> Any:
        raise NotImplementedError

    def _after_answer(self) -> None:
        """Leave a short, human gap after the person spoke (never inside the coach's speech)."""
        self._t = max(self._t, self.speaking_until) + ANSWER_GAP

    def _pause(self, step: Step) -> float:
        return float(self._resolve(step.pause) or 0)

    def _breathe(self, step: Step) -> StepGen:
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
                yield Until(t)
                cue = self._speak(fill(spec.cue, self._values()), t, phase=spec.phase.value,
                                  max_duration=length, step=step, fade=fade)
                if counting:
                    busy_until = cue.t + cue.duration
                    for k in range(1, int(math.floor(length + 1e-9))):
                        tk = t + k
                        if tk + 0.05 >= t + length or busy_until > tk - 0.05:
                            continue  # dropped: it would overlap the cue before it
                        yield Until(tk)
                        word = COUNT_WORDS[k] if k < len(COUNT_WORDS) else str(k + 1)
                        cc = self._speak(word, tk, phase=spec.phase.value, max_duration=min(1.0, t + length - tk),
                                         step=step, fade=fade)
                        busy_until = cc.t + cc.duration
                t += length
        self._breath_cycle.pop(step.index, None)
        yield Until(t + self._pause(step))

    def _listen(self, step: Step, since: float, mode: str | None = None, scale=None) -> Input:
        timeout = self._resolve(step.timeout) if step.timeout is not None else self.options.answer_timeout
        deadline = None if timeout is None or self.options.answer_timeout is None else since + float(timeout)
        return Input(Listening(step.name or step.label, step.kind, mode or step.mode, since, deadline, scale,
                                tuple(o.label for o in step.options)))

    def _ask(self, step: Step) -> StepGen:
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
                yield Until(end + p)
            return None

    def _number(self, text: str, scale: tuple[int, int]) -> int | None:
        if self.options.parse_number is not None:
            return self.options.parse_number(text, scale)
        from voicecoach.numbers import parse_number

        return parse_number(text, scale)

    def _collect(self, step: Step) -> StepGen:
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
        yield Until(end + max(0.5, self._pause(step)))

    def _choose(self, step: Step) -> StepGen:
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
                yield Until(end + 0.4)
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

    def _notice(self, step: Step) -> StepGen:
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
            yield Until(end + max(0.4, self._pause(step)))

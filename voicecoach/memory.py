"""The coach's memory of what helped: offers, follow-ups and the weekly review.

Three things, all read from the journal and said in a sentence or two:

- **Follow-up.** A script with a ``follow_up`` field (docs/scripts.md) has its plan asked about
  at the start of the next open conversation: "Last time you planned to ask him directly. How
  did it go?" The answer is saved in the followed entry (``follow_up``), and ``follow_up_asked``
  records that it was asked, so a plan is asked about once.
- **Offer.** When someone says they are anxious again, the technique whose typical (median)
  drop in the rating is the largest is offered first, naming it and the change in one sentence,
  saying so when there is little to go on, and always leaving room for something else.
- **Review.** "How have I been doing?": the past seven days in a few warm sentences (sessions,
  the average change, what helped most, one thing to celebrate), never a score.

The coach calls :meth:`Memory.opening` when a conversation starts (after any safety check) and
:meth:`Memory.respond` with every request heard while nothing runs; a :class:`Reply` says what
to say and which script to start. Nothing here speaks, times or listens by itself.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from voicecoach.errors import VoicecoachError
from voicecoach.followup import ASKED_FIELD, FOLLOW_UP_FIELD, FollowUp
from voicecoach.journal import Entry, JournalStore, iso_utc
from voicecoach.progress import TechniqueChange
from voicecoach.scripts import Library, Script
from voicecoach.types import IntentMatch

log = logging.getLogger(__name__)

OFFER_INTENTS = frozenset({"anxious"})
"""Requests after which what helped most is offered first."""
REVIEW_INTENT = "review"
QUESTION_SECONDS = 180.0
"""An open question of ours (offer, follow-up) lapses after this long without an answer."""
REQUEST_CONFIDENCE = 0.85
"""Answering a follow-up, a request this sure is taken as a request, not as the answer."""
REVIEW_DAYS = 7

THANKS_FOLLOW_UP = ("Thank you for telling me. Whatever happened, trying it took courage, "
                    "and I've kept what you said with your plan.")
STOP_INTENTS = frozenset({"stop", "goodbye", "skip"})
_YES = re.compile(r"\b(yes|yeah|yep|yup|sure|okay|ok|please|let's|lets|sounds good|alright|"
                  r"go on|why not|do that|again)\b")
_NO = re.compile(r"\b(no|nope|not|nah|something else|another|different|rather)\b")


@dataclass(frozen=True)
class Reply:
    """What the coach should do about something it heard."""

    say: tuple[str, ...] = ()
    """Sentences to speak, in order."""
    start: str | None = None
    """A script to start after speaking."""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Open:
    """A question of ours waiting for its answer."""

    kind: str
    """offer | follow_up"""
    since: float
    script_id: str
    """offer: the technique offered; follow_up: the script whose plan it is."""
    requested: str | None = None
    """offer: the script the request would have started."""
    params: dict[str, Any] = field(default_factory=dict)
    entry_id: int | None = None


class Memory:
    """Reads the journal for what helped and what was planned. ``journal`` may be None (no
    journal: nothing is remembered and every method says nothing)."""

    def __init__(self, journal: JournalStore | None, library: Library, clock: Callable[[], float] = time.time):
        self.journal = journal
        self.library = library
        self.clock = clock
        """Wall-clock time (seconds since the epoch), for "this week" and a plan's age."""
        self._open: _Open | None = None
        self._offered = False

    # -- the interface the coach uses ---------------------------------------------------------

    def opening(self, now: float) -> str | None:
        """The follow-up question for the latest plan not yet asked about, or None. Marks it as
        asked; the answer comes through :meth:`respond`."""
        due = self._read(self._due_follow_up)
        if due is None:
            return None
        entry, script = due
        follow = script.follow_up
        assert follow is not None
        self._write("update_fields", entry.id, {ASKED_FIELD: iso_utc(self.clock())})
        self._open = _Open("follow_up", now, script.id, entry_id=entry.id)
        return fill(follow, entry.fields)

    def respond(self, now: float, m: IntentMatch) -> Reply | None:
        """A request heard while nothing runs. A Reply when memory has something to say (an answer
        to its own question, an offer, the review); None to let the coach route it as usual."""
        question = self._open
        if question is not None and now - question.since > QUESTION_SECONDS:
            question = self._open = None
        if question is not None:
            self._open = None
            if question.kind == "follow_up":
                return self._follow_up_answer(question, m)
            return self._offer_answer(question, m)
        if m.name == REVIEW_INTENT:
            return Reply((self._read(self.review) or _REVIEW_EMPTY,))
        if m.name in OFFER_INTENTS and not self._offered:
            return self._offer(now, m)
        return None

    def review(self) -> str:
        """The past seven days in a few warm sentences (sessions, average change, what helped
        most, one thing to celebrate); no score."""
        if self.journal is None:
            return _REVIEW_EMPTY
        since = iso_utc(self.clock() - REVIEW_DAYS * 86400)
        sessions = [s for s in self.journal.sessions() if s.started >= since]
        if not sessions:
            return _REVIEW_EMPTY
        n = len(sessions)
        said = [f"This past week you came back {_times(n)}, and that matters in itself."]
        rated = self.journal.rated(since)
        if rated:
            drop = sum(r.drop for r in rated) / len(rated)
            said.append(_average_sentence(drop))
            best = self._best(self.journal.technique_changes(since))
            if best is not None and best.little_to_go_on:
                said.append(f"So far, {self.name_of(best.script_id)} has helped most, though "
                            f"{_sessions(best.sessions)} is still early to tell.")
            elif best is not None:
                said.append(f"What seemed to help most was {self.name_of(best.script_id)}, "
                            f"usually {_points(best.typical_drop)} calmer by the end.")
        else:
            said.append("When you rate how you feel before and after a session, I can tell you "
                        "what helps you most.")
        win = self._accomplishment(since)
        if win:
            said.append(f"And something to celebrate: {win}")
        said.append("Be gentle with yourself. Every one of those moments was you looking after you.")
        return " ".join(said)

    def name_of(self, script_id: str) -> str:
        """A technique as said in a sentence: "box breathing", "the thought record"."""
        try:
            title = self.library.get(script_id).title
        except VoicecoachError:
            return script_id.replace("-", " ")
        name = title if title[:2].isupper() or title[:1].isdigit() else title[:1].lower() + title[1:]
        if name.split()[-1] in ("record", "check-in", "statement", "wind-down"):
            name = "the " + name
        return name

    # -- offers --------------------------------------------------------------------------------

    def _offer(self, now: float, m: IntentMatch) -> Reply | None:
        requested = self.library.for_intent(m.name or "", m.slots)
        journal = self.journal
        if journal is None:
            return None
        best = self._read(lambda: self._best(journal.technique_changes()))
        if best is None or (requested is not None and best.script_id == requested.id):
            return None
        self._offered = True
        self._open = _Open("offer", now, best.script_id, requested.id if requested else None)
        return Reply((offer_sentence(best, self.name_of(best.script_id)),))

    def _best(self, changes: list[TechniqueChange]) -> TechniqueChange | None:
        for c in changes:
            if c.typical_drop > 0 and c.script_id in self.library.scripts:
                return c
        return None

    def _offer_answer(self, q: _Open, m: IntentMatch) -> Reply | None:
        if m.name in STOP_INTENTS:
            return None
        other = self._request(m, 0.0)
        if other is not None and other.id != q.script_id:
            return None  # something else asked for: the coach starts it
        text = " " + m.text.lower() + " "
        if m.name == "no":
            yes = False
        elif m.name == "yes" or other is not None:
            yes = True
        else:
            yes = bool(_YES.search(text)) and not _NO.search(text)
        if yes:
            return Reply(("Okay. Let's do that.",), q.script_id)
        if q.requested:
            return Reply(("Okay, let's try something else.",), q.requested, q.params)
        return Reply(("Okay. What would you like to do?",))

    # -- follow-ups ----------------------------------------------------------------------------

    def _due_follow_up(self) -> tuple[Entry, Script] | None:
        if self.journal is None:
            return None
        followed = {s.id: s for s in self.library.scripts.values()
                    if s.follow_up is not None and s.journal}
        if not followed:
            return None
        sessions = {s.id: s for s in self.journal.sessions()}
        now = self.clock()
        best: tuple[Entry, Script] | None = None
        for kind in {s.journal for s in followed.values()}:
            for e in self.journal.entries(kind):
                session = sessions.get(e.session_id) if e.session_id is not None else None
                script = followed.get(session.script_id) if session is not None else None
                if script is None or session is None or session.status == "crisis":
                    continue
                follow = script.follow_up
                assert follow is not None
                if ASKED_FIELD in e.fields or FOLLOW_UP_FIELD in e.fields:
                    continue
                if not all(_present(e.fields.get(n)) for n in follow.needs):
                    continue
                if _age_days(e.created, now) > follow.within_days:
                    continue
                if best is None or e.id > best[0].id:
                    best = (e, script)
        return best

    def _follow_up_answer(self, q: _Open, m: IntentMatch) -> Reply | None:
        if m.name in STOP_INTENTS or self._request(m, REQUEST_CONFIDENCE) is not None:
            return None  # not an answer: the coach handles it
        if q.entry_id is not None and m.text.strip():
            self._write("update_fields", q.entry_id, {FOLLOW_UP_FIELD: m.text.strip()})
        return Reply((THANKS_FOLLOW_UP, "What would you like to do now?"))

    # -- helpers -------------------------------------------------------------------------------

    def _request(self, m: IntentMatch, confidence: float) -> Script | None:
        if not m.name or m.confidence < confidence:
            return None
        return self.library.for_intent(m.name, m.slots)

    def _accomplishment(self, since: str) -> str | None:
        if self.journal is None:
            return None
        for e in reversed(self.journal.entries("win")):
            if e.created >= since and _present(e.fields.get("win")):
                return f"you said you were glad that {as_plan(str(e.fields['win']))}."
        for e in reversed(self.journal.entries()):
            if e.created >= since and _present(e.fields.get(FOLLOW_UP_FIELD)):
                return "you followed through on a plan and told me how it went."
        return None

    def _read(self, fn: Callable[[], Any]) -> Any:
        if self.journal is None:
            return None
        try:
            return fn()
        except VoicecoachError as exc:
            log.warning("%s", exc)
            return None

    def _write(self, method: str, *args: Any) -> None:
        if self.journal is None:
            return
        try:
            getattr(self.journal, method)(*args)
        except VoicecoachError as exc:
            log.warning("%s", exc)
            print(f"voicecoach: could not save to the journal: {exc}", flush=True)


_REVIEW_EMPTY = ("We haven't had a session together in the past week, and that's okay. "
                 "Whenever you'd like to, I'm here.")


def offer_sentence(change: TechniqueChange, name: str) -> str:
    """What helped most, named with its change in one sentence, then the offer."""
    b, a = _n(change.last_before), _n(change.last_after)
    if change.sessions == 1:
        return (f"Last time, {name} took you from {b} to {a}. That's only one session to go on, "
                "but shall we do that again, or would you like something else?")
    if change.little_to_go_on:
        return (f"Last time, {name} took you from {b} to {a}, and it has helped you most so far, "
                f"though {change.sessions} sessions is not much to go on. "
                "Shall we do that again, or would you like something else?")
    return (f"{name[:1].upper() + name[1:]} has helped you most, usually "
            f"{_points(change.typical_drop)} calmer, and last time it took you from {b} to {a}. "
            "Shall we do that again, or would you like something else?")


def fill(follow: FollowUp, fields: dict[str, Any]) -> str:
    """The follow-up question with the plan's words in it, turned to the person ("my" → "your")."""
    def value(match: re.Match[str]) -> str:
        v = fields.get(match.group(1))
        return as_plan(str(v)) if isinstance(v, str) else _n(v) if v is not None else ""

    return re.sub(r"\{([a-z_][a-z0-9_]*)\}", value, follow.ask)


_LEADS = re.compile(
    r"^(?:(?:i think|maybe|probably|perhaps|i guess|well|so|okay|ok)[ ,]+)*"
    r"(?:i will |i'll |i am going to |i'm going to |i'm gonna |i want to |i'd like to |"
    r"i would like to |i plan to |i could |i can |i should |i need to |to )?", re.I)
_SWAP = {"i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
         "i'm": "you're", "i've": "you've", "i'll": "you'll", "i'd": "you'd", "am": "are",
         "our": "your", "ours": "yours"}


def as_plan(text: str) -> str:
    """"I'll call my sister on Sunday." → "call your sister on Sunday"."""
    text = " ".join(text.replace("\u2019", "'").split()).rstrip(".!? ")
    text = _LEADS.sub("", text, count=1)
    words = [_SWAP.get(w.lower(), w) for w in text.split()]
    if words and words[0] not in ("I",) and words[0][:1].isupper() and not words[0][1:2].isupper():
        words[0] = words[0].lower()
    return " ".join(words)


def _present(value: Any) -> bool:
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


def _age_days(created: str, now: float) -> float:
    try:
        t = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return float("inf")
    return (now - t.timestamp()) / 86400


def _n(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _points(drop: float) -> str:
    if drop < 0.75:
        return "a little"
    whole = round(drop)
    return f"about {whole} point{'s' if whole != 1 else ''}"


def _sessions(n: int) -> str:
    return "one session" if n == 1 else f"{n} sessions"


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _average_sentence(drop: float) -> str:
    if drop >= 0.75:
        return f"On average you felt {_points(drop)} calmer by the end of a session."
    if drop > -0.75:
        return "On average, how you felt stayed about the same from start to end, and showing up still counts."
    return "Some sessions ended harder than they began. That happens, and coming back anyway takes courage."

"""The ``follow_up`` field of a script: what a session plans, asked about at the start of the next.

```yaml
follow_up:
  ask: "Last time you planned to {plan}. How did it go?"   # {answer} names, required
  needs: [plan]          # answers that must be there to ask (default: those named in ask)
  within_days: 14        # only plans this recent are asked about (default 14)
```

The answer is saved in the followed entry's ``follow_up`` field (and when it was asked in
``follow_up_asked``), so it stays with the plan it is about. Parsing collects problems through a
callback, like the rest of the script validator (docs/scripts.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from voicecoach.yamlio import line_of

FOLLOW_UP_FIELD = "follow_up"
"""The entry field the answer to a follow-up question is saved in."""
ASKED_FIELD = "follow_up_asked"
"""The entry field that records when the follow-up was asked (so it is asked once)."""
DEFAULT_WITHIN_DAYS = 14

_KEYS = {"ask", "needs", "within_days"}
_REF = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class FollowUp:
    """How a script's plan is followed up next session."""

    ask: str
    """The question, with ``{answer}`` places filled from the followed entry."""
    needs: tuple[str, ...]
    """Answers that must be in the entry for it to be followed up."""
    within_days: int = DEFAULT_WITHIN_DAYS
    """Plans older than this are not asked about."""
    line: int | None = None

    @property
    def refs(self) -> tuple[str, ...]:
        """The answer names the question uses."""
        return tuple(_REF.findall(self.ask))


Report = Callable[[str, int | None], None]


def parse_follow_up(value: Any, report: Report) -> FollowUp | None:
    """The ``follow_up`` mapping, or None (absent or unusable; problems go to ``report``)."""
    if value is None:
        return None
    line = line_of(value)
    if not isinstance(value, dict):
        report("'follow_up' must be a mapping with 'ask' (and optionally 'needs', 'within_days')", line)
        return None
    ok = True
    for key in value:
        if key not in _KEYS:
            report(f"follow_up: unknown key '{key}' (keys: {', '.join(sorted(_KEYS))})", line_of(value, key))
            ok = False
    ask = value.get("ask")
    if not isinstance(ask, str) or not ask.strip():
        report("follow_up: 'ask' must be the question to ask next session", line_of(value, "ask") or line)
        return None
    needs_raw = value.get("needs")
    if needs_raw is None:
        needs = tuple(_REF.findall(ask))
    elif isinstance(needs_raw, list) and all(isinstance(n, str) and _NAME.match(n) for n in needs_raw):
        needs = tuple(needs_raw)
    else:
        report("follow_up: 'needs' must be a list of answer names", line_of(value, "needs"))
        return None
    within = value.get("within_days", DEFAULT_WITHIN_DAYS)
    if isinstance(within, bool) or not isinstance(within, int) or not 1 <= within <= 365:
        report("follow_up: 'within_days' must be a whole number of days from 1 to 365",
               line_of(value, "within_days"))
        return None
    return FollowUp(ask.strip(), needs, within, line) if ok else None


def check_follow_up(follow: FollowUp, journal_kind: str | None, answers: Iterable[str],
                    report: Report) -> None:
    """A follow-up needs a journal kind (the plan must be saved) and answers the script asks."""
    if not journal_kind:
        report("follow_up needs 'journal': the plan is followed up from the saved entry", follow.line)
    asked = set(answers)
    for name in dict.fromkeys(follow.refs + follow.needs):
        if name not in asked:
            report(f"follow_up refers to '{name}', which no step of this script asks for", follow.line)

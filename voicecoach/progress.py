"""What helped: the change in a rating from the start of a session to its end, per technique.

Pure functions on numbers (no journal, no files), so the journal, the coach's memory and the
``journal stats`` command share one definition. A *drop* is ``before - after``: positive when the
person felt better at the end. The typical drop of a technique is the median over its sessions,
which one unusual session cannot swing.
"""

from __future__ import annotations

from dataclasses import dataclass

LITTLE_TO_GO_ON = 3
"""Fewer rated sessions than this is little to go on, and the coach says so."""


@dataclass(frozen=True)
class Rated:
    """One session's before and after rating."""

    script_id: str
    created: str
    """ISO 8601 UTC, when the entry was started."""
    before: float
    after: float

    @property
    def drop(self) -> float:
        return self.before - self.after


@dataclass(frozen=True)
class TechniqueChange:
    """How much one technique (script) has lowered the person's rating, across sessions."""

    script_id: str
    sessions: int
    """How many sessions were rated before and after."""
    typical_drop: float
    """The median of before - after (positive: it helped)."""
    last_before: float
    last_after: float
    last_created: str

    @property
    def little_to_go_on(self) -> bool:
        """Too few sessions to call it what typically helps."""
        return self.sessions < LITTLE_TO_GO_ON

    def to_dict(self) -> dict[str, object]:
        return {
            "script": self.script_id,
            "sessions": self.sessions,
            "typical_drop": round(self.typical_drop, 2),
            "last_before": _num(self.last_before),
            "last_after": _num(self.last_after),
            "little_to_go_on": self.little_to_go_on,
        }


def median(values: list[float]) -> float:
    """The middle value (the mean of the middle two for an even count); 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def technique_changes(rated: list[Rated]) -> list[TechniqueChange]:
    """Per technique, best first: the highest typical drop, then more sessions, then most recent.
    ``rated`` is oldest first."""
    by_script: dict[str, list[Rated]] = {}
    for r in rated:
        by_script.setdefault(r.script_id, []).append(r)
    out = []
    for script_id, rows in by_script.items():
        last = rows[-1]
        out.append(TechniqueChange(script_id, len(rows), median([r.drop for r in rows]),
                                   last.before, last.after, last.created))
    out.sort(key=lambda c: (c.typical_drop, c.sessions, c.last_created), reverse=True)
    return out


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value

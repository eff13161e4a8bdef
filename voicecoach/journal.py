"""The journal: a private, local SQLite file that never loses an answer.

``<home>/journal.sqlite3`` (file 0600, directory 0700). Every write is its own transaction,
committed with ``synchronous=FULL`` before the call returns, so a session killed half-way keeps
every answer given so far (its entry stays marked incomplete). The schema is versioned with
``PRAGMA user_version`` and an ordered list of migrations, applied once each, in order.

Nothing the person says is logged: errors name the file and what went wrong, never a value.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, TypeGuard

from voicecoach.config import ensure_home
from voicecoach.errors import VoicecoachError
from voicecoach.progress import Rated, TechniqueChange, technique_changes

FILE_NAME = "journal.sqlite3"
EXPORT_SCHEMA_VERSION = 1
"""The version of the exported JSON document (not of the database schema)."""

SESSION_STATUSES = ("completed", "stopped", "crisis", "interrupted")
"""How a session can end. A session with no end yet reads as ``open``."""

RATING_FIELDS = frozenset(
    {"before", "after", "intensity_before", "intensity_after", "belief_before", "belief_after"}
)
"""Fields that hold a rating: always stored as integers."""


def _is_count_field(name: str) -> bool:
    """Durations and counts (``minutes``, ``next_minutes``...) are numbers even when a spoken
    choice gave them as text ("7"), so a parameter's ``recall`` can read them back."""
    return name in RATING_FIELDS or name.endswith(("minutes", "seconds", "cycles"))

THOUGHT_RECORD_FIELDS = (
    "situation",
    "feeling",
    "intensity_before",
    "thought",
    "belief_before",
    "evidence_for",
    "evidence_against",
    "alternatives",
    "balanced_thought",
    "belief_after",
    "intensity_after",
    "plan",
)
"""A thought record's fields, in the order the script asks them."""

KIND_FIELDS: dict[str, tuple[str, ...]] = {"thought_record": THOUGHT_RECORD_FIELDS}
"""Kinds whose export always carries these fields (``null`` when not answered)."""

_DROP_PAIRS = (("before", "after"), ("intensity_before", "intensity_after"))


class JournalError(VoicecoachError):
    """The journal cannot be read or written (disk full, read-only, corrupt); names the file."""


@dataclass
class Entry:
    """One journal entry: a thought record, a breathing session's ratings, a win..."""

    id: int
    kind: str
    """``thought_record``, ``breathing``, ``i_statement``, ``urge_delay``, ``trigger``, ``win``..."""
    created: str
    """When it was started, ISO 8601 in UTC (``2024-05-01T21:14:03Z``)."""
    complete: bool
    """False while a session is still filling it in, or if it was cut off."""
    session_id: int | None
    """The session that wrote it, if any."""
    fields: dict[str, Any] = field(default_factory=dict)
    """The answers, by field name; ratings are integers."""

    def to_dict(self) -> dict[str, Any]:
        """The export form: ``id``, ``kind``, ``created``, ``complete`` and the fields."""
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "created": self.created,
            "complete": self.complete,
        }
        for name in KIND_FIELDS.get(self.kind, ()):
            out[name] = None
        for name, value in self.fields.items():
            if name not in ("id", "kind", "created", "complete"):
                out[name] = value
        return out


@dataclass
class Session:
    """One guided session: which script, when, and how it ended."""

    id: int
    script_id: str
    started: str
    """ISO 8601 UTC."""
    ended: str | None
    status: str
    """completed | stopped | crisis | interrupted, or ``open`` while it runs (or if it was killed)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "script": self.script_id,
            "started": self.started,
            "ended": self.ended,
            "status": self.status,
        }


def iso_utc(ts: float | None = None) -> str:
    """A timestamp as ISO 8601 UTC with a ``Z``."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_week(created: str) -> str:
    """``2024-05-01T..`` → ``2024-W18``."""
    try:
        day = datetime.strptime(created[:10], "%Y-%m-%d")
    except ValueError:
        return "unknown"
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


# --- schema migrations ---------------------------------------------------------------------------
# Append only: never edit a migration that has shipped. Each runs in its own transaction together
# with the bump of user_version, so a crash leaves the file at the previous version.


def _m1_initial(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE sessions (
               id INTEGER PRIMARY KEY,
               script_id TEXT NOT NULL,
               started TEXT NOT NULL,
               ended TEXT,
               status TEXT NOT NULL DEFAULT 'open'
           )"""
    )
    conn.execute(
        """CREATE TABLE entries (
               id INTEGER PRIMARY KEY,
               kind TEXT NOT NULL,
               created TEXT NOT NULL,
               complete INTEGER NOT NULL DEFAULT 0,
               session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
               fields TEXT NOT NULL DEFAULT '{}'
           )"""
    )
    conn.execute("CREATE INDEX entries_kind ON entries(kind, id)")
    conn.execute("CREATE INDEX entries_session ON entries(session_id, kind)")


def _m2_flags(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE flags (
               name TEXT PRIMARY KEY,
               value TEXT NOT NULL,
               updated TEXT NOT NULL
           )"""
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m1_initial, _m2_flags]
"""Schema migrations in order; the database's ``user_version`` is how many have run."""


def _normalise(field_name: str, value: Any) -> Any:
    """Ratings become integers; other values must be JSON-friendly."""
    if isinstance(value, bool) or value is None:
        return value
    if _is_count_field(field_name):
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                return value
        if isinstance(value, (int, float)):
            return int(round(value))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_normalise("", v) for v in value]
    if isinstance(value, dict):
        return {str(k): _normalise(str(k), v) for k, v in value.items()}
    return str(value)


class JournalStore(Protocol):
    """What the coach and its memory need of a journal (:class:`Journal` is the SQLite one)."""

    def begin_session(self, script_id: str, started: float | None = None) -> int: ...
    def end_session(self, session_id: int, status: str) -> None: ...
    def record_answer(self, session_id: int, kind: str, field: str, value: object) -> int: ...
    def complete_entry(self, session_id: int, kind: str) -> None: ...
    def add_entry(self, kind: str, fields: dict[str, Any], session_id: int | None = None,
                  complete: bool = True) -> int: ...
    def update_fields(self, entry_id: int, fields: dict) -> bool: ...
    def last_value(self, kind: str, field: str) -> object | None: ...
    def entries(self, kind: str | None = None) -> list[Entry]: ...
    def sessions(self) -> list[Session]: ...
    def rated(self, since: str | None = None) -> list[Rated]: ...
    def technique_changes(self, since: str | None = None) -> list[TechniqueChange]: ...
    def set_flag(self, name: str, on: bool) -> None: ...
    def flag(self, name: str) -> bool: ...


class Journal:
    """The journal file. Open with :meth:`Journal.open`; every method commits before it returns."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self._conn = conn

    # --- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, home: Path) -> Journal:
        """Open (creating and migrating as needed) ``home/journal.sqlite3``."""
        home = Path(home)
        try:
            ensure_home(home)
        except OSError as exc:
            raise JournalError(
                f"{home}: cannot create the data directory: {exc.strerror or exc}"
            ) from None
        path = home / FILE_NAME
        try:
            if not path.exists():
                fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
                os.close(fd)
            os.chmod(path, 0o600)
        except OSError as exc:
            raise JournalError(
                f"{path}: cannot create the journal: {exc.strerror or exc}"
            ) from None
        try:
            conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise JournalError(f"{path}: cannot open the journal: {exc}") from None
        journal = cls(path, conn)
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            journal._migrate()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise journal._error("cannot open the journal", exc) from None
        return journal

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise JournalError(
                f"{self.path}: written by a newer voicecoach (schema {version}, this version knows "
                f"{len(MIGRATIONS)}); update voicecoach to read it"
            )
        for number in range(version, len(MIGRATIONS)):
            with self._write("cannot update the journal's format"):
                MIGRATIONS[number](self._conn)
                self._conn.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        """How many migrations the file has had."""
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        try:
            self._conn.close()
        except sqlite3.Error:
            pass

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions ----------------------------------------------------------------------------
    def _error(self, what: str, exc: Exception) -> JournalError:
        text = str(exc).lower()
        if "full" in text:
            reason = "the disk is full; nothing saved before was lost"
        elif "readonly" in text or "read-only" in text or "read only" in text:
            reason = "the file or its directory is read-only; nothing saved before was lost"
        elif "locked" in text or "busy" in text:
            reason = "the journal is busy in another voicecoach; try again"
        elif "not a database" in text or "malformed" in text:
            reason = "the file is damaged or not a voicecoach journal"
        else:
            reason = str(exc)
        return JournalError(f"{self.path}: {what}: {reason}")

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One atomic write: BEGIN IMMEDIATE ... COMMIT, or a rollback and a JournalError."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(what, exc) from None
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._error(what, exc) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error("cannot read the journal", exc) from None

    # --- flags ------------------------------------------------------------------------------------
    def set_flag(self, name: str, on: bool) -> None:
        """Set or clear a named flag (``check_safety``: ask "are you safe?" next session), in
        one transaction, so it survives a crash the moment this returns."""
        with self._write("cannot save a safety note") as conn:
            if on:
                conn.execute("INSERT OR REPLACE INTO flags (name, value, updated) VALUES (?, '1', ?)",
                             (name, iso_utc()))
            else:
                conn.execute("DELETE FROM flags WHERE name = ?", (name,))

    def flag(self, name: str) -> bool:
        return bool(self._read("SELECT 1 FROM flags WHERE name = ?", (name,)))

    # --- sessions --------------------------------------------------------------------------------
    def begin_session(self, script_id: str, started: float | None = None) -> int:
        """Record that a script started; returns the session id."""
        with self._write("cannot save the session") as conn:
            cur = conn.execute(
                "INSERT INTO sessions (script_id, started) VALUES (?, ?)",
                (script_id, iso_utc(started)),
            )
            return int(cur.lastrowid or 0)

    def end_session(self, session_id: int, status: str) -> None:
        """Record how a session ended: completed | stopped | crisis | interrupted."""
        if status not in SESSION_STATUSES:
            raise JournalError(
                f"{self.path}: unknown session status {status!r} "
                f"(one of {', '.join(SESSION_STATUSES)})"
            )
        with self._write("cannot save the session") as conn:
            conn.execute(
                "UPDATE sessions SET ended = ?, status = ? WHERE id = ?",
                (iso_utc(), status, session_id),
            )

    def sessions(self) -> list[Session]:
        """Every session, oldest first."""
        rows = self._read("SELECT id, script_id, started, ended, status FROM sessions ORDER BY id")
        return [Session(*row) for row in rows]

    def last_session(self) -> Session | None:
        """The latest session (the engine asks after a crisis session whether the person is safe)."""
        rows = self._read(
            "SELECT id, script_id, started, ended, status FROM sessions ORDER BY id DESC LIMIT 1"
        )
        return Session(*rows[0]) if rows else None

    # --- entries ---------------------------------------------------------------------------------
    def record_answer(self, session_id: int, kind: str, field: str, value: object) -> int:
        """Save one answer as soon as it is given; returns the entry id.

        The session's entry of ``kind`` is created (incomplete) on its first answer. The write is
        committed before this returns.
        """
        value = _normalise(field, value)
        with self._write("cannot save your answer") as conn:
            row = conn.execute(
                "SELECT id, fields FROM entries WHERE session_id = ? AND kind = ? "
                "ORDER BY id DESC LIMIT 1",
                (session_id, kind),
            ).fetchone()
            if row is None:
                cur = conn.execute(
                    "INSERT INTO entries (kind, created, complete, session_id, fields) "
                    "VALUES (?, ?, 0, ?, ?)",
                    (kind, iso_utc(), session_id, json.dumps({field: value})),
                )
                return int(cur.lastrowid or 0)
            entry_id, text = row
            fields = _loads(text)
            fields[field] = value
            conn.execute(
                "UPDATE entries SET fields = ? WHERE id = ?", (json.dumps(fields), entry_id)
            )
            return int(entry_id)

    def complete_entry(self, session_id: int, kind: str) -> None:
        """Mark the session's entry of ``kind`` complete (no-op when it has none)."""
        with self._write("cannot save the entry") as conn:
            conn.execute(
                "UPDATE entries SET complete = 1 WHERE id = (SELECT id FROM entries "
                "WHERE session_id = ? AND kind = ? ORDER BY id DESC LIMIT 1)",
                (session_id, kind),
            )

    def add_entry(
        self,
        kind: str,
        fields: dict,
        session_id: int | None = None,
        complete: bool = True,
    ) -> int:
        """Write a whole entry at once (a win, an urge-delay outcome); returns its id."""
        clean = {str(k): _normalise(str(k), v) for k, v in fields.items()}
        with self._write("cannot save the entry") as conn:
            cur = conn.execute(
                "INSERT INTO entries (kind, created, complete, session_id, fields) "
                "VALUES (?, ?, ?, ?, ?)",
                (kind, iso_utc(), 1 if complete else 0, session_id, json.dumps(clean)),
            )
            return int(cur.lastrowid or 0)

    def update_fields(self, entry_id: int, fields: dict) -> bool:
        """Merge ``fields`` into an existing entry (a follow-up answer kept with the plan it is
        about); True when the entry exists. Committed before it returns."""
        clean = {str(k): _normalise(str(k), v) for k, v in fields.items()}
        with self._write("cannot save your answer") as conn:
            row = conn.execute("SELECT fields FROM entries WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                return False
            merged = _loads(row[0])
            merged.update(clean)
            conn.execute("UPDATE entries SET fields = ? WHERE id = ?", (json.dumps(merged), entry_id))
            return True

    def last_value(self, kind: str, field: str) -> object | None:
        """The latest value of ``field`` in entries of ``kind`` (for a script parameter's ``recall``)."""
        rows = self._read("SELECT fields FROM entries WHERE kind = ? ORDER BY id DESC", (kind,))
        for (text,) in rows:
            value = _loads(text).get(field)
            if value is not None:
                return value
        return None

    def entries(self, kind: str | None = None) -> list[Entry]:
        """Every entry (of ``kind``), oldest first."""
        sql = "SELECT id, kind, created, complete, session_id, fields FROM entries"
        params: tuple = ()
        if kind is not None:
            sql += " WHERE kind = ?"
            params = (kind,)
        return [_entry(row) for row in self._read(sql + " ORDER BY id", params)]

    def get(self, entry_id: int) -> Entry | None:
        """One entry by id."""
        rows = self._read(
            "SELECT id, kind, created, complete, session_id, fields FROM entries WHERE id = ?",
            (entry_id,),
        )
        return _entry(rows[0]) if rows else None

    def delete(self, entry_id: int) -> bool:
        """Delete one entry; True when it existed."""
        with self._write("cannot delete the entry") as conn:
            cur = conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            return cur.rowcount > 0

    def delete_all(self) -> None:
        """Delete every entry and the session history, and reclaim the space on disk."""
        with self._write("cannot delete the journal") as conn:
            conn.execute("DELETE FROM entries")
            conn.execute("DELETE FROM sessions")
        try:
            # Deleted pages would otherwise keep old text in the file until reused.
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.execute("VACUUM")
        except sqlite3.Error:
            pass

    # --- statistics ------------------------------------------------------------------------------
    def rated(self, since: str | None = None) -> list[Rated]:
        """Sessions rated before and after (``before``/``after`` or ``intensity_*``), oldest first,
        with the script that ran; ``since``: ISO 8601 UTC, only entries created then or later."""
        scripts = {s.id: s.script_id for s in self.sessions()}
        out = []
        for e in self.entries():
            if e.session_id not in scripts or (since is not None and e.created < since):
                continue
            for b, a in _DROP_PAIRS:
                before, after = e.fields.get(b), e.fields.get(a)
                if _is_number(before) and _is_number(after):
                    out.append(Rated(scripts[e.session_id], e.created, float(before), float(after)))
                    break
        return out

    def technique_changes(self, since: str | None = None) -> list[TechniqueChange]:
        """Per technique (script), the typical (median) drop in the rating across its sessions,
        best first; each says whether there is little to go on (voicecoach/progress.py)."""
        return technique_changes(self.rated(since))

    def stats(self) -> dict[str, Any]:
        """Sessions per ISO week and the average drop in anxiety from before to after.

        ``sessions_per_week`` maps ``2024-W18`` to a count; ``average_drop`` is the mean of
        (before - after) over entries with both ratings (``before``/``after`` or
        ``intensity_before``/``intensity_after``), None when there are none; ``drop_per_week``
        is the same mean per week. ``techniques`` is :meth:`technique_changes` (best first) and
        ``ratings`` every rated session, oldest first (``created``, ``script``, ``before``, ``after``).
        """
        sessions = self.sessions()
        per_week: dict[str, int] = {}
        status: dict[str, int] = {}
        for s in sessions:
            week = iso_week(s.started)
            per_week[week] = per_week.get(week, 0) + 1
            status[s.status] = status.get(s.status, 0) + 1
        drops: list[float] = []
        drops_week: dict[str, list[float]] = {}
        kinds: dict[str, int] = {}
        entries = self.entries()
        for e in entries:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
            for b, a in _DROP_PAIRS:
                before, after = e.fields.get(b), e.fields.get(a)
                if _is_number(before) and _is_number(after):
                    drop = float(before) - float(after)
                    drops.append(drop)
                    drops_week.setdefault(iso_week(e.created), []).append(drop)
                    break
        return {
            "sessions": len(sessions),
            "sessions_per_week": dict(sorted(per_week.items())),
            "sessions_by_status": dict(sorted(status.items())),
            "entries": len(entries),
            "entries_by_kind": dict(sorted(kinds.items())),
            "rated": len(drops),
            "average_drop": round(sum(drops) / len(drops), 2) if drops else None,
            "drop_per_week": {w: round(sum(v) / len(v), 2) for w, v in sorted(drops_week.items())},
            "techniques": [c.to_dict() for c in self.technique_changes()],
            "ratings": [
                {"created": r.created, "script": r.script_id, "before": _num(r.before),
                 "after": _num(r.after)}
                for r in self.rated()
            ],
        }


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _loads(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _entry(row: tuple) -> Entry:
    entry_id, kind, created, complete, session_id, text = row
    return Entry(entry_id, kind, created, bool(complete), session_id, _loads(text))

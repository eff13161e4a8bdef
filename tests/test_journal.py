"""The journal: answers saved as given, atomic writes, durability, permissions, the command."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from voicecoach.errors import VoicecoachError
from voicecoach.journal import (
    MIGRATIONS,
    THOUGHT_RECORD_FIELDS,
    Journal,
    JournalError,
)

TWELVE = {
    "situation": "he did not answer my message all evening",
    "feeling": "scared",
    "intensity_before": 8,
    "thought": "he is going to leave me",
    "belief_before": 90,
    "evidence_for": "he was quiet at dinner",
    "evidence_against": "he said he loves me this morning",
    "alternatives": "he is tired after work",
    "balanced_thought": "he is busy and that does not mean he is leaving",
    "belief_after": 40,
    "intensity_after": 4,
    "plan": "ask him tomorrow how his day was",
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def journal(home: Path):
    j = Journal.open(home)
    yield j
    j.close()


def test_permissions_file_0600_directory_0700(home: Path, journal: Journal):
    sid = journal.begin_session("check-in")
    journal.record_answer(sid, "breathing", "before", 6)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for p in home.iterdir():
        if p.name.startswith("journal.sqlite3"):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_existing_file_with_loose_permissions_is_tightened(home: Path):
    home.mkdir(mode=0o755)
    (home / "journal.sqlite3").touch(mode=0o644)
    os.chmod(home / "journal.sqlite3", 0o644)
    Journal.open(home).close()
    assert stat.S_IMODE((home / "journal.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_schema_version_and_migrations_run_once(home: Path):
    j = Journal.open(home)
    assert j.schema_version == len(MIGRATIONS) >= 1
    j.add_entry("win", {"win": "I went for a walk"})
    j.close()
    j = Journal.open(home)  # reopening must not re-run migrations or lose data
    assert j.schema_version == len(MIGRATIONS)
    assert [e.fields["win"] for e in j.entries("win")] == ["I went for a walk"]
    j.close()


def test_newer_schema_is_refused_with_the_file_named(home: Path):
    Journal.open(home).close()
    conn = sqlite3.connect(home / "journal.sqlite3")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(JournalError, match="journal.sqlite3.*newer"):
        Journal.open(home)


def test_not_a_database_is_a_clear_error(home: Path):
    home.mkdir()
    (home / "journal.sqlite3").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(JournalError, match="journal.sqlite3"):
        Journal.open(home)


def test_journal_error_is_a_voicecoach_error():
    assert issubclass(JournalError, VoicecoachError)


def test_thought_record_answer_by_answer(journal: Journal):
    sid = journal.begin_session("thought-record", started=1_714_600_000)
    ids = set()
    for name in THOUGHT_RECORD_FIELDS:
        ids.add(journal.record_answer(sid, "thought_record", name, TWELVE[name]))
        # every answer is readable (committed) as soon as record_answer returns
        entry = journal.entries("thought_record")[0]
        assert entry.fields[name] == TWELVE[name]
        assert entry.complete is False
    assert len(ids) == 1
    journal.complete_entry(sid, "thought_record")
    journal.end_session(sid, "completed")
    entry = journal.get(ids.pop())
    assert entry is not None and entry.complete and entry.session_id == sid
    assert entry.fields == TWELVE
    assert entry.created.endswith("Z") and "T" in entry.created
    assert journal.sessions()[0].status == "completed"
    assert journal.sessions()[0].started == "2024-05-01T21:46:40Z"


def test_ratings_are_stored_as_integers(journal: Journal):
    sid = journal.begin_session("box-breathing")
    journal.record_answer(sid, "breathing", "before", 7.0)
    journal.record_answer(sid, "breathing", "after", "3")
    eid = journal.record_answer(sid, "thought_record", "belief_before", 72.6)
    fields = journal.entries("breathing")[0].fields
    assert fields == {"before": 7, "after": 3}
    assert all(type(v) is int for v in fields.values())
    assert journal.get(eid).fields["belief_before"] == 73


def test_two_sessions_keep_separate_entries(journal: Journal):
    a = journal.begin_session("thought-record")
    b = journal.begin_session("thought-record")
    ea = journal.record_answer(a, "thought_record", "situation", "one")
    eb = journal.record_answer(b, "thought_record", "situation", "two")
    assert ea != eb
    assert journal.get(ea).fields == {"situation": "one"}


def test_last_value_for_recall(journal: Journal):
    assert journal.last_value("urge_delay", "next_minutes") is None
    journal.add_entry("urge_delay", {"urge": "text him", "minutes": 5, "next_minutes": 7})
    journal.add_entry("urge_delay", {"urge": "check his profile", "minutes": 7, "next_minutes": 10})
    journal.add_entry("urge_delay", {"urge": "call", "minutes": 10})  # no next_minutes
    assert journal.last_value("urge_delay", "next_minutes") == 10
    sid = journal.begin_session("urge-delay")
    journal.record_answer(sid, "urge_delay", "next_minutes", "15")  # a choose label is text
    assert journal.last_value("urge_delay", "next_minutes") == 15


def test_delete_and_delete_all(journal: Journal):
    a = journal.add_entry("win", {"win": "a"})
    b = journal.add_entry("win", {"win": "b"})
    journal.begin_session("self-compassion")
    assert journal.delete(a) is True
    assert journal.delete(a) is False
    assert [e.id for e in journal.entries()] == [b]
    journal.delete_all()
    assert journal.entries() == [] and journal.sessions() == []


def test_stats_sessions_per_week_and_average_drop(journal: Journal):
    # 2024-05-01 is a Wednesday of ISO week 18; 2024-05-08 is in week 19.
    for ts in (1_714_560_000, 1_714_600_000, 1_715_160_000):
        journal.begin_session("box-breathing", started=ts)
    journal.add_entry("breathing", {"before": 8, "after": 5})
    journal.add_entry("thought_record", {"intensity_before": 6, "intensity_after": 5})
    journal.add_entry("breathing", {"before": 6})  # no after: not counted
    stats = journal.stats()
    assert stats["sessions"] == 3
    assert stats["sessions_per_week"] == {"2024-W18": 2, "2024-W19": 1}
    assert stats["rated"] == 2
    assert stats["average_drop"] == 2.0


def test_disk_full_is_a_clear_error_and_loses_nothing(journal: Journal):
    sid = journal.begin_session("thought-record")
    journal.record_answer(sid, "thought_record", "situation", "kept")
    saved = journal.add_entry("win", {"win": "kept too"})
    pages = journal._conn.execute("PRAGMA page_count").fetchone()[0]
    journal._conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(JournalError) as info:
        for _ in range(50):
            journal.add_entry("win", {"win": "x" * 20_000})
    assert "journal.sqlite3" in str(info.value) and "full" in str(info.value)
    with pytest.raises(JournalError, match="full"):
        journal.record_answer(sid, "thought_record", "feeling", "y" * 50_000)
    # nothing saved before is lost, and the journal still reads
    assert journal.get(saved).fields == {"win": "kept too"}
    assert journal.entries("thought_record")[0].fields == {"situation": "kept"}
    journal._conn.execute("PRAGMA max_page_count = 1073741823")
    journal.record_answer(sid, "thought_record", "feeling", "calmer")
    assert journal.entries("thought_record")[0].fields == {"situation": "kept", "feeling": "calmer"}


def test_read_only_connection_is_a_clear_error(home: Path, journal: Journal):
    journal.add_entry("win", {"win": "kept"})
    journal._conn.execute("PRAGMA query_only = ON")  # root ignores file modes; this is read-only
    with pytest.raises(JournalError, match="journal.sqlite3.*read-only"):
        journal.add_entry("win", {"win": "lost"})
    journal._conn.execute("PRAGMA query_only = OFF")
    assert [e.fields["win"] for e in journal.entries()] == ["kept"]


_WRITER = """
import sys, time
from pathlib import Path
from voicecoach.journal import Journal
j = Journal.open(Path(sys.argv[1]))
sid = j.begin_session("thought-record")
for i, name in enumerate(sys.argv[2:]):
    j.record_answer(sid, "thought_record", name, "answer %d" % i)
    print(name, flush=True)
time.sleep(60)
"""


def test_sigkill_mid_session_loses_no_saved_answer(home: Path):
    names = list(THOUGHT_RECORD_FIELDS[:4])
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(home), *names],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        acknowledged = [proc.stdout.readline().strip() for _ in names]
        assert acknowledged == names
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    j = Journal.open(home)
    try:
        [entry] = j.entries("thought_record")
        assert entry.complete is False  # cut off: marked incomplete
        assert entry.fields == {n: f"answer {i}" for i, n in enumerate(names)}
        assert j.sessions()[0].status == "open"
    finally:
        j.close()


def test_each_answer_is_readable_from_another_connection_once_recorded(journal: Journal, home: Path):
    # on disk when record_answer returns (how long that takes: scripts/bench.py, journal write)
    sid = journal.begin_session("thought-record")
    for i in range(3):
        journal.record_answer(sid, "thought_record", "situation", f"text {i}")
        other = sqlite3.connect(home / "journal.sqlite3")
        try:
            assert f"text {i}" in " ".join(r[0] for r in other.execute("SELECT fields FROM entries"))
        finally:
            other.close()


# --- the command ----------------------------------------------------------------------------------


def _cmd(argv: list[str], home: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    from voicecoach.commands import journal as command

    monkeypatch.setenv("VOICECOACH_HOME", str(home))
    parser = argparse.ArgumentParser(prog="voicecoach journal")
    command.configure(parser)
    args = parser.parse_args(argv)
    try:
        rc = command.run(args)
    except VoicecoachError as exc:
        print(f"voicecoach: {exc}", file=sys.stderr)
        rc = 1
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def filled(home: Path) -> Path:
    j = Journal.open(home)
    sid = j.begin_session("thought-record", started=1_714_600_000)
    for name in THOUGHT_RECORD_FIELDS[:-1]:
        j.record_answer(sid, "thought_record", name, TWELVE[name])
    j.complete_entry(sid, "thought_record")
    j.end_session(sid, "completed")
    b = j.begin_session("box-breathing", started=1_714_600_100)
    j.record_answer(b, "breathing", "before", 7)
    j.record_answer(b, "breathing", "after", 4)
    j.complete_entry(b, "breathing")
    j.end_session(b, "completed")
    j.close()
    return home


def test_export_json_is_one_document(filled: Path, monkeypatch, capsys):
    rc, out, _ = _cmd(["export", "--format", "json"], filled, monkeypatch, capsys)
    assert rc == 0
    doc = json.loads(out)
    assert doc["schema_version"] == 1
    tr = [e for e in doc["entries"] if e["kind"] == "thought_record"][0]
    assert set(tr) == {"id", "kind", "created", "complete", *THOUGHT_RECORD_FIELDS}
    for name in THOUGHT_RECORD_FIELDS[:-1]:
        assert tr[name] == TWELVE[name]
    assert tr["plan"] is None  # skipped
    assert type(tr["belief_before"]) is int and type(tr["belief_after"]) is int
    assert tr["complete"] is True
    assert [s["script"] for s in doc["sessions"]] == ["thought-record", "box-breathing"]


def test_export_csv_and_md(filled: Path, monkeypatch, capsys):
    rc, out, _ = _cmd(["export", "--format", "csv"], filled, monkeypatch, capsys)
    assert rc == 0
    header = out.splitlines()[0].split(",")
    assert header[:4] == ["id", "kind", "created", "complete"]
    assert "balanced_thought" in header and "before" in header
    rc, out, _ = _cmd(["export", "--format", "md"], filled, monkeypatch, capsys)
    assert rc == 0 and "thought record" in out and "Balanced thought" in out


def test_list_show_stats(filled: Path, monkeypatch, capsys, tmp_path: Path):
    rc, out, _ = _cmd(["list"], filled, monkeypatch, capsys)
    assert rc == 0 and "thought_record" in out and "breathing" in out
    rc, out, _ = _cmd(["show", "1"], filled, monkeypatch, capsys)
    assert rc == 0 and "Belief before (0-100): 90" in out
    rc, _, err = _cmd(["show", "99"], filled, monkeypatch, capsys)
    assert rc == 1 and "no journal entry 99" in err
    png = tmp_path / "stats.png"
    rc, out, _ = _cmd(["stats", "--json", "--plot", str(png)], filled, monkeypatch, capsys)
    stats = json.loads(out)
    assert rc == 0 and stats["sessions"] == 2 and stats["average_drop"] == 3.5
    assert [t["script"] for t in stats["techniques"]] == ["thought-record", "box-breathing"]
    assert stats["ratings"][1] | {"created": None} == {
        "created": None, "script": "box-breathing", "before": 7, "after": 4}
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 400 and height >= 300
    rc, out, _ = _cmd(["stats"], filled, monkeypatch, capsys)
    assert rc == 0 and "Average drop in anxiety" in out
    # the compact terminal chart: sparklines of the ratings, bars per technique
    assert "before ▇▆" in out and "after  ▄▄" in out  # 8 then 7, 4 then 4 (of 10)
    assert "box-breathing" in out and "█" in out and "little to go on" in out


def test_plot_without_matplotlib_says_how_to_install_it(filled: Path, tmp_path: Path):
    png = tmp_path / "stats.png"
    code = ("import sys; sys.modules['matplotlib'] = None; from voicecoach.cli import main; "
            f"sys.exit(main(['journal', 'stats', '--plot', {str(png)!r}]))")
    env = {**os.environ, "VOICECOACH_HOME": str(filled)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 1 and not png.exists()
    (line,) = r.stderr.strip().splitlines()
    assert "pip install 'voicecoach[plot]'" in line and "Traceback" not in r.stderr


def test_technique_changes_typical_drop_is_the_median(journal: Journal):
    def rated(script: str, kind: str, before: int, after: int, pair=("before", "after")) -> None:
        sid = journal.begin_session(script)
        journal.record_answer(sid, kind, pair[0], before)
        journal.record_answer(sid, kind, pair[1], after)
        journal.end_session(sid, "completed")

    for before, after in ((8, 4), (7, 6), (6, 3), (9, 9)):
        rated("box-breathing", "breathing", before, after)  # drops 4, 1, 3, 0: median 2
    rated("grounding-54321", "grounding", 7, 4)  # one session, drop 3
    rated("thought-record", "thought_record", 6, 7, ("intensity_before", "intensity_after"))
    changes = {c.script_id: c for c in journal.technique_changes()}
    box = changes["box-breathing"]
    assert box.typical_drop == 2 and box.sessions == 4 and not box.little_to_go_on
    assert (box.last_before, box.last_after) == (9, 9)
    assert changes["grounding-54321"].little_to_go_on
    assert changes["thought-record"].typical_drop == -1
    assert [c.script_id for c in journal.technique_changes()] == [
        "grounding-54321", "box-breathing", "thought-record"]


def test_update_fields_keeps_the_follow_up_with_its_entry(journal: Journal):
    sid = journal.begin_session("thought-record")
    entry = journal.record_answer(sid, "thought_record", "plan", "ask him directly")
    assert journal.update_fields(entry, {"follow_up": "it went well"}) is True
    assert journal.get(entry).fields == {"plan": "ask him directly", "follow_up": "it went well"}
    assert journal.update_fields(999, {"follow_up": "x"}) is False


def test_delete_all_refuses_without_terminal_or_yes(filled: Path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    rc, _, err = _cmd(["delete", "--all"], filled, monkeypatch, capsys)
    assert rc == 1 and "--yes" in err
    j = Journal.open(filled)
    assert len(j.entries()) == 2
    j.close()
    rc, out, _ = _cmd(["delete", "--all", "--yes"], filled, monkeypatch, capsys)
    assert rc == 0 and "Deleted 2 entries" in out
    j = Journal.open(filled)
    assert j.entries() == [] and j.sessions() == []
    j.close()


def test_delete_one(filled: Path, monkeypatch, capsys):
    rc, out, _ = _cmd(["delete", "2"], filled, monkeypatch, capsys)
    assert rc == 0
    rc, _, err = _cmd(["delete", "2"], filled, monkeypatch, capsys)
    assert rc == 1 and "no journal entry 2" in err

"""Faults: what breaks around a session must not end it, lose what the person said, or show a
traceback.

Only boundaries are faked: the speech synthesiser's driver (a pyttsx3 driver, or an ``espeak-ng``
on PATH that fails or hangs), the disk (SQLite's page limit, or a tiny tmpfs), the clock, and the
signal a person sends with Ctrl-C. The voice, coach, engine, journal and commands are real.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from voicecoach.coach import Coach
from voicecoach.errors import VoicecoachError
from voicecoach.journal import Journal, JournalError
from voicecoach.player import RecordingPlayer
from voicecoach.scripts import Library
from voicecoach.session import Printer, RealtimeRunner, VirtualChat
from voicecoach.tts.base import FallbackVoice
from voicecoach.tts.espeak import find_espeak
from voicecoach.tts.pyttsx3_voice import Pyttsx3Voice

from conftest import run_cli
from helpers import ClockQueue, FakePyttsx3Driver, VirtualClock

REPO = Path(__file__).resolve().parent.parent
needs_espeak = pytest.mark.skipif(find_espeak() is None, reason="espeak-ng is not installed")

THOUGHT_ANSWERS = [
    "He didn't answer my message all evening",
    "scared",
    "8",
    "He is losing interest in me",
    "90",
]


# --------------------------------------------------------------------------------------------
# Speech output raising or hanging

_release = threading.Event()


class _FaultyDriver(FakePyttsx3Driver):
    """A pyttsx3 driver (pyttsx3's own plug-in boundary) that writes a tone for most text, never
    returns from its run loop for text containing "Hold", and raises for "Breathe out"."""

    def startLoop(self):
        self._proxy.setBusy(False)
        if "Hold" in self._text:
            _release.wait(30)
            return
        if "Breathe out" in self._text:
            raise RuntimeError("the synthesiser crashed")
        self.write_tone(0.25)


@pytest.fixture()
def faulty_driver(monkeypatch):
    module = types.ModuleType("pyttsx3.drivers.vcfaulty")
    module.buildDriver = lambda proxy: _FaultyDriver(proxy)
    monkeypatch.setitem(sys.modules, "pyttsx3.drivers.vcfaulty", module)
    _release.clear()
    yield "vcfaulty"
    _release.set()


def test_speech_hanging_or_raising_mid_session_falls_back_to_printed_words(faulty_driver, voicecoach_home):
    pytest.importorskip("pyttsx3")
    notices: list[str] = []
    voice = FallbackVoice(Pyttsx3Voice(160, 1.0, timeout=0.3, driver=faulty_driver), notify=notices.append)
    library = Library.load(voicecoach_home)
    journal = Journal.open(voicecoach_home)
    coach = Coach(library, lambda text, s: voice.synthesize(text, s).seconds, journal=journal,
                  answer_timeout=25.0, home=voicecoach_home)
    clock = VirtualClock()
    player = RecordingPlayer(clock)
    out = io.StringIO()
    runner = RealtimeRunner(coach, voice, player, Printer(out), clock=clock)
    runner.inputs = ClockQueue(clock)  # type: ignore[assignment]
    first = coach.begin(runner.now(), "box-breathing", {"cycles": 3, "rate_anxiety": False})
    runner.run(first, stop_when_idle=True, max_seconds=600)
    voice.close()

    # The session went on to its end, and was journalled as completed.
    assert coach.ended == [("box-breathing", "completed")]
    assert [s.status for s in journal.sessions()] == ["completed"]
    journal.close()
    # The words that could not be spoken were printed, every time they came round.
    printed = out.getvalue().splitlines()
    assert sum(ln.startswith("coach: Hold") for ln in printed) == 6
    assert sum(ln.startswith("coach: Breathe out") for ln in printed) == 3
    assert any("Well done" in ln for ln in printed)
    # ... and played as silence; the other cues as the engine's sound.
    for p in player.played:
        loud = bool(np.abs(p.chunk.samples.astype(np.int32)).max(initial=0) > 100)
        assert loud == (not p.text.startswith(("Hold", "Breathe out"))), p.text
    # One notice, and one timeout paid per failing cue, not one per repetition.
    assert len(notices) == 1 and "speech output failed" in notices[0]
    assert voice.failures == 2


def _fake_espeak(tmp_path: Path, mode: str) -> dict[str, str]:
    """An ``espeak-ng`` on PATH that runs the real one, except for text containing "Hold":
    ``mode`` "hang" sleeps past the voice's timeout, "fail" exits 1 with a message."""
    real = find_espeak()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    action = "sleep 30" if mode == "hang" else 'echo "espeak-ng: audio device lost" >&2; exit 1'
    script = bindir / "espeak-ng"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        text=$(cat)
        case "$text" in
          *Hold*) {action} ;;
        esac
        printf '%s' "$text" | exec {real} "$@"
        """))
    script.chmod(0o755)
    return {"PATH": f"{bindir}:{os.environ['PATH']}"}


@needs_espeak
@pytest.mark.parametrize("mode", ["fail", "hang"])
def test_chat_goes_on_when_the_speech_engine_fails_or_hangs(tmp_path, voicecoach_home, mode):
    # No speaker (a device that is not there), so the scripted chat does not wait for each cue
    # to be played in real time; every cue's length still comes from the speech engine.
    (voicecoach_home / "config.yaml").write_text("voice:\n  engine: espeak\n  output_device: no-such-speaker\n")
    env = _fake_espeak(tmp_path, mode)
    env["VOICECOACH_HOME"] = str(voicecoach_home)
    r = run_cli("chat", "--script", "box-breathing", "--set", "cycles=2", "--set", "rate_anxiety=false",
                input="", env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout.count("coach: Hold") == 4
    assert "Well done" in r.stdout
    notices = [ln for ln in r.stderr.splitlines() if "speech output failed" in ln]
    assert len(notices) == 1, r.stderr


# --------------------------------------------------------------------------------------------
# A full disk during a journal write


def _fill(journal: Journal) -> None:
    """No more pages: the next write that needs one fails as SQLITE_FULL does."""
    pages = journal._conn.execute("PRAGMA page_count").fetchone()[0]
    journal._conn.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_mid_session_keeps_what_was_saved_and_the_session_goes_on(voicecoach_home, capsys):
    library = Library.load(voicecoach_home)
    journal = Journal.open(voicecoach_home)
    coach = Coach(library, lambda text, s: 0.2 + 0.05 * len(text), journal=journal, answer_timeout=None,
                  home=voicecoach_home)
    out = io.StringIO()
    big = "x" * 200_000  # needs new pages wherever the journal stands

    def answers():
        yield from THOUGHT_ANSWERS[:3]
        _fill(journal)
        yield big
        yield from THOUGHT_ANSWERS[4:]

    first = coach.begin(0.0, "thought-record")
    VirtualChat(coach, Printer(out)).run(answers(), first)
    journal.close()

    # The person was told once, clearly; the conversation carried on to the next question.
    said = capsys.readouterr().out
    warnings = [ln for ln in said.splitlines() if "could not save to the journal" in ln]
    assert len(warnings) == 1 and "full" in warnings[0] and "nothing saved before was lost" in warnings[0]
    assert f"you: {THOUGHT_ANSWERS[4]}" in out.getvalue()
    # Everything saved before the disk filled is still there, in a readable journal.
    with Journal.open(voicecoach_home) as again:
        (entry,) = again.entries("thought_record")
        values = list(entry.fields.values())
        for answer in THOUGHT_ANSWERS[:2]:
            assert answer in values
        assert 8 in values
        assert big not in values
        assert again._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


_TMPFS_DRIVER = r"""
import json, os, subprocess, sys
home = sys.argv[1]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", home], check=True)
env = dict(os.environ, VOICECOACH_HOME=home)
p = subprocess.Popen([sys.executable, "-m", "voicecoach", "chat", "--mute", "--script", "thought-record"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
answers = json.loads(sys.argv[2])
def wait_for(text):
    seen = ""
    while text not in seen:
        line = p.stdout.readline()
        if not line:
            raise SystemExit("chat ended early: " + seen[-500:])
        seen += line
for a in answers[:3]:
    p.stdin.write(a + "\n"); p.stdin.flush(); wait_for("you: " + a)
wait_for("coach: What went through your mind")   # the third answer is saved; the fourth is asked
with open(os.path.join(home, "filler"), "wb") as f:          # fill the disk
    try:
        while True:
            f.write(b"\0" * 65536); f.flush()
    except OSError:
        pass
rest = "y" * 300000 + "\n" + "".join(a + "\n" for a in answers[4:])
out, err = p.communicate(input=rest, timeout=60)
os.unlink(os.path.join(home, "filler"))
import sqlite3
con = sqlite3.connect(os.path.join(home, "journal.sqlite3"))
rows = [json.loads(r[0]) for r in con.execute("SELECT fields FROM entries")]
ok = con.execute("PRAGMA integrity_check").fetchone()[0]
print(json.dumps({"rc": p.returncode, "stdout": out, "stderr": err, "entries": rows, "integrity": ok}))
"""


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    try:
        r = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="cannot mount a private tmpfs here (needs unshare -m)")
def test_chat_on_a_data_directory_that_fills_up(tmp_path):
    """The real thing: the data directory is a 1 MB tmpfs that fills mid-session."""
    home = tmp_path / "home"
    home.mkdir()
    r = subprocess.run(["unshare", "-m", sys.executable, "-c", _TMPFS_DRIVER, str(home),
                        json.dumps(THOUGHT_ANSWERS)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["rc"] == 0, res["stderr"]
    assert "Traceback" not in res["stderr"] + res["stdout"]
    said = res["stdout"] + res["stderr"]
    assert said.count("could not save to the journal") == 1 and "full" in said
    assert f"you: {THOUGHT_ANSWERS[4]}" in res["stdout"]
    assert res["integrity"] == "ok"
    (fields,) = res["entries"]
    for answer in THOUGHT_ANSWERS[:2]:
        assert answer in fields.values()


def test_journal_full_error_is_clear_and_a_journal_error(voicecoach_home):
    with Journal.open(voicecoach_home) as j:
        sid = j.begin_session("thought-record")
        j.record_answer(sid, "thought_record", "situation", "kept")
        _fill(j)
        with pytest.raises(JournalError) as info:
            j.record_answer(sid, "thought_record", "feelings", "z" * 100_000)
        assert isinstance(info.value, VoicecoachError)
        msg = str(info.value)
        assert "\n" not in msg and "journal.sqlite3" in msg and "full" in msg
    con = sqlite3.connect(voicecoach_home / "journal.sqlite3")
    (fields,) = [json.loads(r[0]) for r in con.execute("SELECT fields FROM entries")]
    con.close()
    assert fields == {"situation": "kept"}


# --------------------------------------------------------------------------------------------
# Config values of the wrong type, through the CLI

BAD_CONFIGS = [
    ("voice:\n  rate: fast\n", 2, "voice.rate"),
    ("journal:\n  enabled: sometimes\n", 2, "journal.enabled"),
    ("# mine\nvoice: 5\n", 2, "voice"),
    ("dialogue:\n  answer_timeout: [1, 2]\n", 2, "dialogue.answer_timeout"),
    ("voice:\n  engine: 3\n", 2, "voice.engine"),
    ("audio:\n  input_device: 1.5\n", 2, "audio.input_device"),
    ("voice:\n  volume: 7\n", 2, "voice.volume"),
    ("region: [us]\n", 1, "region"),
    ("voice:\n  rate: 120\n  rate: 130\n", 3, "duplicate key"),
]


COMMANDS = [["render", "box-breathing", "--out", "OUT"], ["chat", "--mute"], ["listen", "--fast", "--input", "OUT"]]


@pytest.mark.parametrize("text,line,key,command",
                         [(*case, COMMANDS[i % len(COMMANDS)]) for i, case in enumerate(BAD_CONFIGS)],
                         ids=[f"{k}-{COMMANDS[i % len(COMMANDS)][0]}" for i, (_, _, k) in enumerate(BAD_CONFIGS)])
def test_a_wrongly_typed_config_value_is_one_line_naming_file_key_and_line(voicecoach_home, tmp_path, command,
                                                                          text, line, key):
    cfg = voicecoach_home / "config.yaml"
    cfg.write_text(text)
    out = tmp_path / "out.wav"
    argv = [str(out) if a == "OUT" else a for a in command]
    r = run_cli(*argv, input="", env={"VOICECOACH_HOME": str(voicecoach_home)}, timeout=120)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"voicecoach: {cfg}:{line}: ") and key in lines[0], lines[0]
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Ctrl-C mid-session


def _popen(*args: str, home: Path) -> subprocess.Popen:
    env = dict(os.environ, VOICECOACH_HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "voicecoach", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_as_from_a_terminal)


def _as_from_a_terminal() -> None:
    """Ctrl-C as a terminal delivers it: a suite started in the background (``cmd &``, nohup)
    hands its children SIGINT ignored, and a command started that way rightly ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_in_chat_mid_session_keeps_the_answers_given(voicecoach_home):
    p = _popen("chat", "--mute", "--script", "thought-record", home=voicecoach_home)
    try:
        seen = ""
        for answer in THOUGHT_ANSWERS[:3]:
            p.stdin.write(answer + "\n")
            p.stdin.flush()
            while f"you: {answer}" not in seen:
                line = p.stdout.readline()
                assert line, f"chat ended early: {seen[-400:]}"
                seen += line
        while "coach: What went through your mind" not in seen:  # now waiting for the fourth answer
            line = p.stdout.readline()
            assert line, f"chat ended early: {seen[-400:]}"
            seen += line
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130
    assert err.strip().splitlines() == ["voicecoach: stopped."], err
    with Journal.open(voicecoach_home) as j:
        (session,) = j.sessions()
        assert session.status == "interrupted"
        (entry,) = j.entries("thought_record")
    values = list(entry.fields.values())
    assert THOUGHT_ANSWERS[0] in values and THOUGHT_ANSWERS[1] in values and 8 in values
    assert not entry.complete


def _open_fifo_for_writing(path: Path, p: subprocess.Popen, hang_guard: float = 120.0) -> int:
    """Open a FIFO for writing once ``p`` has opened it for reading (the event this waits for);
    the time limit only guards against a hang."""
    deadline = time.monotonic() + hang_guard
    while True:
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:  # ENXIO: nobody reads it yet
            if exc.errno != errno.ENXIO:
                raise
        assert p.poll() is None, f"the command ended before it read its answers: {p.communicate()[1]}"
        assert time.monotonic() < deadline, "the command never opened its answers file"
        time.sleep(0.01)


def test_ctrl_c_during_render_leaves_no_half_written_file(tmp_path, voicecoach_home):
    work = tmp_path / "out"
    work.mkdir()
    out = work / "session.wav"
    timeline = work / "session.json"
    answers = tmp_path / "answers"
    os.mkfifo(answers)
    # The answers file is a pipe: once the command has opened it, it is running its render
    # (signal handling set up, nothing written yet). The render of 200 cycles is long, so the
    # Ctrl-C sent the moment the pipe closes lands while it is still working.
    p = _popen("render", "box-breathing", "--set", "cycles=200", "--set", "rate_anxiety=false",
               "--answers", str(answers), "--out", str(out), "--timeline", str(timeline), home=voicecoach_home)
    try:
        fd = _open_fifo_for_writing(answers, p)
        os.close(fd)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, f"render was not interrupted: {err}"
    assert err.strip().splitlines() == ["voicecoach: stopped."], err
    assert list(work.iterdir()) == []


# --------------------------------------------------------------------------------------------
# A recogniser raising mid-stream


class _FailingRecognizer:
    """The real recogniser, except that its fifth ``accept`` raises (a decoder dying mid-utterance)."""

    def __init__(self, inner, exc: Exception):
        self.inner, self.exc, self.n = inner, exc, 0
        self.engine, self.mode = inner.engine, inner.mode

    def start(self):
        self.inner.start()

    def accept(self, chunk):
        self.n += 1
        if self.n == 5:
            raise self.exc
        self.inner.accept(chunk)

    def partial(self):
        return self.inner.partial()

    def finish(self):
        return self.inner.finish()


class _FirstUtteranceFails:
    """The loaded engines, with the first utterance's recogniser failing mid-stream."""

    def __init__(self, speech, exc: Exception):
        self.speech, self.exc, self.made = speech, exc, 0

    def recognizer(self, mode="request"):
        self.made += 1
        rec = self.speech.recognizer(mode)
        return _FailingRecognizer(rec, self.exc) if self.made == 1 else rec

    def __getattr__(self, name):
        return getattr(self.speech, name)


@pytest.mark.parametrize("exc", [VoicecoachError("the decoder failed"), RuntimeError("ps_process_raw failed")],
                         ids=["voicecoach-error", "library-error"])
def test_a_recogniser_raising_mid_stream_loses_that_utterance_only(voicecoach_home, exc):
    from voicecoach.asr import load_speech
    from voicecoach.config import data_path, load_config
    from voicecoach.display import Display
    from voicecoach.live import LiveLoop
    from voicecoach.mic import FileMic
    from voicecoach.session import make_coach
    from voicecoach.tts.base import SilentVoice

    demo = data_path("demo")
    config = load_config(voicecoach_home)
    library = Library.load(voicecoach_home)
    voice = SilentVoice(160, 1.0)
    coach = make_coach(config, library, voice, journal=None, answer_timeout=25.0)
    speech = _FirstUtteranceFails(load_speech(config, engine="pocketsphinx"), exc)
    source = FileMic.from_specs([f"{demo / 'ground-me.wav'}@0.5", f"{demo / 'help-me-breathe.wav'}@6"])
    display = Display(io.StringIO(), live=False)
    loop = LiveLoop(coach, voice, speech, source, display=display)
    loop.run(coach.begin(loop.now(), None), max_seconds=20)

    said = "\n".join(display.lines + display.notices)
    assert speech.made >= 2, "the loop stopped listening after the failure"
    # The failed utterance is lost, the next request is heard and answered.
    assert any(h.final and "breathe" in h.text for h in loop.heard), [h.text for h in loop.heard]
    assert "Let's breathe together" in said
    assert "Traceback" not in said

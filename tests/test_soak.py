"""Soak: a one-hour box-breathing session in virtual time, through the real script, engine, coach,
journal, voice and RealtimeRunner. Only the clock is fake (and the runner's input queue waits on
that clock instead of the wall clock), so an hour takes seconds.

It proves that after a warm-up the process does not grow (RSS grows by less than 5%) and that the
beat does not drift: every phase starts exactly on t0 + 4n, and every counting word on its second.
The 10-minute real-time run, on the real monotonic clock, is in ``scripts/bench.py --long``.
"""

from __future__ import annotations

import os

import pytest

from voicecoach.coach import Coach
from voicecoach.journal import Journal
from voicecoach.player import NullPlayer
from voicecoach.scripts import Library, builtin_dir
from voicecoach.session import Printer, RealtimeRunner
from voicecoach.tts.base import SilentVoice
from voicecoach.tts.espeak import EspeakVoice, find_espeak

from helpers import ClockQueue, VirtualClock

HOUR = 3600.0
WARM_UP = 600.0
PHASE = 4.0


def hour_long_box(home) -> Library:
    """The built-in box-breathing script, allowed enough cycles for an hour (its own limit is 200)."""
    text = (builtin_dir() / "box-breathing.yaml").read_text(encoding="utf-8")
    assert "id: box-breathing\n" in text and "max: 200" in text
    text = text.replace("id: box-breathing\n", "id: box-breathing-hour\n").replace("max: 200", "max: 400")
    (home / "scripts").mkdir(exist_ok=True)
    (home / "scripts" / "box-breathing-hour.yaml").write_text(text, encoding="utf-8")
    library = Library.load(home)
    assert "box-breathing-hour" in library.scripts, library.problems
    return library


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc for RSS")
def test_an_hour_of_box_breathing_neither_grows_nor_drifts(voicecoach_home):
    library = hour_long_box(voicecoach_home)
    voice = EspeakVoice(160, 0.9) if find_espeak() else SilentVoice(160, 0.9)
    journal = Journal.open(voicecoach_home)
    coach = Coach(library, lambda text, s: voice.synthesize(text, s).seconds, journal=journal,
                  answer_timeout=25.0, home=voicecoach_home)
    clock = VirtualClock()
    player = NullPlayer(clock)
    with open(os.devnull, "w") as devnull:
        runner = RealtimeRunner(coach, voice, player, Printer(devnull), clock=clock)
        inputs = ClockQueue(clock)
        runner.inputs = inputs  # type: ignore[assignment]
        cycles = int(HOUR // (4 * PHASE))  # 225 boxes of 16 s
        first = coach.begin(runner.now(), "box-breathing-hour", {"cycles": cycles, "rate_anxiety": False})
        runner.run(first, stop_when_idle=True, max_seconds=HOUR + 300)
    voice.close()

    # The whole session ran and was journalled as completed.
    assert coach.ended == [("box-breathing-hour", "completed")]
    sessions = journal.sessions()
    journal.close()
    assert [(s.script_id, s.status) for s in sessions] == [("box-breathing-hour", "completed")]

    # No drift: phase n starts exactly at t0 + 4n, its counting words one second apart.
    breath = [(t, cue) for t, cue in runner.played if cue.phase]
    onsets = [(t, cue) for i, (t, cue) in enumerate(breath) if i == 0 or breath[i - 1][1].phase != cue.phase
              or cue.text.lower().startswith(("breathe", "hold"))]
    assert len(onsets) == cycles * 4
    t0 = onsets[0][1].t
    worst = 0.0
    for n, (played_at, cue) in enumerate(onsets):
        worst = max(worst, abs(cue.t - (t0 + PHASE * n)), abs(played_at - (t0 + PHASE * n)))
    assert worst < 1e-6, f"a phase cue was {worst * 1000:.3f} ms off its beat"
    for played_at, cue in breath:
        offset = (cue.t - t0) % 1.0
        assert min(offset, 1.0 - offset) < 1e-6 and abs(played_at - cue.t) < 1e-6, (played_at, cue)
    last_phase = onsets[-1][1].t - t0
    assert last_phase == pytest.approx(PHASE * (cycles * 4 - 1), abs=1e-6)

    # No growth after warm-up: RSS at the end within 5% of RSS once warmed up.
    start = runner.t0
    warm = [rss for t, rss in inputs.rss if t - start >= WARM_UP]
    assert len(warm) >= 50, "RSS was not sampled through the hour"
    growth = (warm[-1] - warm[0]) / warm[0]
    assert growth < 0.05, f"RSS grew {growth:.1%} after warm-up ({warm[0] >> 20} -> {warm[-1] >> 20} MiB)"

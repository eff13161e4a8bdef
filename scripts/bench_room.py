#!/usr/bin/env python3
""""stop" over the coach in the real-audio room, said by many voices.

The room of the real-audio test (scripts/pulse_room.py: PulseAudio null sinks, the coach's
speaker looped back into its microphone 60 ms late, the coach at full volume). Each try runs
`voicecoach listen` there, says the bundled "help me breathe", and once the coach answers, a
voice of the corpus's families (scripts/make_corpus.py: espeak-ng variants, Festival's HTS voice
at several speeds and pitches, and flite's voices, held out) says "stop" once, 1.5-3.5 s into
the coach's first sentence, its loudest 30 ms ``--below`` dB under the coach's. Reported per
family and level: the tries where the session stopped, the time from the end of the word to
the coach's silence (from a recording of the speaker), what was heard after the word, and how
many stops came from the second reading of AEC3's own output (``VOICECOACH_TRACE``).

Real time: each try takes about 30 s. Starts PulseAudio (scripts/audio-env.sh) if none is
running. Prints a markdown table. Run from the repository root:

    .venv/bin/python scripts/bench_room.py [--voices 3] [--below 6 12] [--engine auto] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import make_corpus  # noqa: E402
import pulse_room as room_  # noqa: E402

from voicecoach.config import data_path  # noqa: E402


def ensure_pulse() -> None:
    if room_.unavailable() == "PulseAudio is not reachable":
        subprocess.run(["bash", "-c", ". scripts/audio-env.sh && audio_up"], cwd=ROOT, check=True)
    why = room_.unavailable()
    if why:
        raise SystemExit(f"bench_room: {why}")


def one_try(family: str, voice: int, below: float, at: float, engine: str, cache: Path, tmp: Path) -> dict:
    person_db = room_.coach_peak_db() - below
    home = tmp / "home"
    home.mkdir()
    (home / ".disclaimer-spoken").touch()
    raw = tmp / "stop-raw.wav"
    make_corpus.synthesize(family, voice, "stop", raw)
    stop = room_.wav_at_level(raw, person_db, tmp / "stop.wav")
    request = room_.wav_at_level(data_path("demo") / "help-me-breathe.wav", person_db, tmp / "request.wav")
    trace = tmp / "trace.jsonl"
    row = {"family": family, "voice": make_corpus.voice_name(family, voice), "below": below, "stopped": False,
           "delay": None, "heard": [], "second": 0, "readings": [], "why": ""}
    with room_.PulseRoom() as room:
        env = dict(room.env(home), VOICECOACH_CACHE=str(cache), VOICECOACH_TRACE=str(trace), PYTHONPATH=str(ROOT))
        said_path, heard_path = tmp / "said.wav", tmp / "heard.wav"
        recs = [room.record(f"{room.spk}.monitor", said_path, env), room.record(f"{room.mic}.monitor", heard_path, env)]
        rec_t0 = time.monotonic()
        coach = room_.Coach(["--engine", engine, "--max-seconds", "40"], env, cwd=ROOT)
        stop_wall = None
        try:
            if not coach.wait_for("listening", 240):
                row["why"] = "never listening"
                return row
            time.sleep(0.5)
            room.say(request, env)
            if not coach.wait_for("coach:", 15, line_start=True):
                row["why"] = "no reply to the request"
                return row
            time.sleep(at)
            stop_wall = time.monotonic()
            room.say(stop, env)
            coach.wait_for("session stopped", 3.0)
            time.sleep(1.5)
        finally:
            coach.close()
            for r in recs:
                r.terminate()
                r.wait(10)
    row["stopped"] = "session stopped" in coach.text
    row["heard"] = [ln.removeprefix("heard: ") for t, ln in coach.lines
                    if stop_wall is not None and t >= stop_wall and ln.startswith("heard:")]
    if trace.exists():
        events = [json.loads(ln) for ln in trace.read_text().splitlines() if ln.strip()]
        again = [e for e in events if e.get("event") == "read_again"]
        row["second"] = sum(1 for e in again if e.get("taken"))
        row["readings"] = [f"{e['first']!r} -> {e['text']!r} ({e['seconds']:.2f} s)" for e in again]
    if row["stopped"] and stop_wall is not None:
        said, heard, stop_x = room_.samples(said_path), room_.samples(heard_path), room_.samples(stop)
        stop_at = room_.locate(heard, stop_x, stop_wall - rec_t0, span=6.0)
        stop_end = stop_at + room_.last_sound(stop_x, threshold=np.abs(stop_x).max() * 0.05)
        silent = room_.first_silence(said, stop_at, hold=1.0)
        row["delay"] = None if silent is None else silent - stop_end
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voices", type=int, default=3, help="voices per family")
    ap.add_argument("--below", type=float, nargs="+", default=[6.0, 12.0],
                    help="the person's loudest 30 ms this many dB under the coach's")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--families", default=",".join(make_corpus.FAMILIES))
    ap.add_argument("--keep", type=Path, help="keep each try's trace (and its arrays, .npz) in this directory")
    args = ap.parse_args(argv)
    ensure_pulse()
    t0 = time.monotonic()
    rows = []
    families = [f for f in args.families.split(",") if f]
    with tempfile.TemporaryDirectory() as d:
        cache = Path(d) / "cue-cache"
        k = 0
        for below in args.below:
            for family in families:
                for voice in range(args.voices):
                    at = 1.5 + (k * 0.37) % 2.0
                    k += 1
                    tmp = Path(tempfile.mkdtemp(dir=d))
                    row = one_try(family, voice, below, at, args.engine, cache, tmp)
                    rows.append(row)
                    if args.keep:
                        args.keep.mkdir(parents=True, exist_ok=True)
                        name = f"{k:02d}-{family}{voice}-{below:g}dB"
                        for f in tmp.glob("trace.jsonl*"):
                            shutil.copy(f, args.keep / f.name.replace("trace", name, 1))
                    delay = "-" if row["delay"] is None else f"{row['delay'] * 1000:+.0f} ms"
                    print(f"{family:8} {row['voice']:34} -{below:g} dB at {at:.2f} s: "
                          f"{'stopped' if row['stopped'] else 'NOT stopped'} {delay} heard {row['heard']} "
                          f"second readings {row['readings']} {row['why']}", flush=True)
    out = [f"`scripts/bench_room.py {' '.join(sys.argv[1:] if argv is None else argv)}` "
           f"({platform.machine()}, engine {args.engine}, {time.monotonic() - t0:.0f} s; flite is held out)", "",
           "| person under the echo | family | stopped | end of word → silence (median) | by the second reading |",
           "|---|---|---|---|---|"]
    for below in args.below:
        for family in families:
            rs = [r for r in rows if r["below"] == below and r["family"] == family]
            ds = [r["delay"] for r in rs if r["delay"] is not None]
            med = f"{statistics.median(ds) * 1000:+.0f} ms" if ds else "-"
            out.append(f"| {below:g} dB | {family} | {sum(r['stopped'] for r in rs)}/{len(rs)} | {med} | "
                       f"{sum(r['second'] > 0 for r in rs)} |")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

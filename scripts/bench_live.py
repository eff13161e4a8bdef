#!/usr/bin/env python3
"""Benchmark the live loop through `voicecoach listen --input` at real-time pace.

- Reply latency: for each of ten or more different spoken requests, the time from the end of the
  person's speech to the first sound of the coach's reply (both on the input clock: the request's
  placement in the input, the reply's onset in OUT.wav).
- Stop → silence: "stop" said while the coach speaks; the time from the end of "stop" to the end
  of the coach's sound in OUT.wav.

Requests are spoken by espeak-ng (a voice unlike the coach's). Prints a table and writes
docs/benchmarks_live.md. Run from the repository root:  .venv/bin/python scripts/bench_live.py
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecoach.audio import read_wav, to_asr, write_wav  # noqa: E402

REQUESTS = [
    "help me breathe", "ground me", "i'm anxious", "i can't sleep", "help me relax",
    "help me reframe this thought", "can we breathe", "breathe with me", "help", "goodbye",
    "i feel anxious", "calm me down",
]
VOICE = "en-us+f2"
AT = 0.5


def speak(text: str, path: Path) -> None:
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", VOICE, "-s", "130", "-w", str(raw), text], check=True)
    write_wav(path, to_asr(read_wav(raw)))


def last_sound(x: np.ndarray, threshold: int = 300) -> float:
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > threshold)
    return (loud[-1] + 1) / 16000 if loud.size else 0.0


def sound_after(x: np.ndarray, rate: int, t: float, threshold: int = 300) -> float | None:
    i = int(t * rate)
    loud = np.flatnonzero(np.abs(x[i:].astype(np.int32)) > threshold)
    return (i + loud[0]) / rate if loud.size else None


def listen(inputs: list[str], out: Path, max_seconds: float, engine: str | None) -> str:
    cmd = [sys.executable, "-m", "voicecoach", "listen", "--mute", "--input", *inputs,
           "--output-wav", str(out), "--max-seconds", str(max_seconds)]
    if engine:
        cmd += ["--engine", engine]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=max_seconds + 120)
    if r.returncode != 0:
        raise SystemExit(f"listen failed: {r.stderr.strip()[-500:]}")
    return r.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="pocketsphinx")
    ap.add_argument("--write", type=Path, default=ROOT / "docs" / "benchmarks_live.md")
    args = ap.parse_args()
    rows: list[tuple[str, str, float | None]] = []
    stops: list[float] = []
    starts: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VOICECOACH_HOME"] = str(Path(tmp) / "home")
        tmpd = Path(tmp)
        for i, req in enumerate(REQUESTS):
            wav = tmpd / f"req{i}.wav"
            speak(req, wav)
            end = AT + last_sound(read_wav(wav).samples)
            out = tmpd / f"out{i}.wav"
            stdout = listen([f"{wav}@{AT}"], out, end + 3.0, args.engine)
            heard = next((ln[7:] for ln in stdout.splitlines() if ln.startswith("heard: ")), "")
            o = read_wav(out)
            onset = sound_after(o.samples, o.rate, end)
            lat = None if onset is None else onset - end
            rows.append((req, heard, lat))
            print(f"{req!r:35} heard {heard!r:35} reply after {'-' if lat is None else f'{lat * 1000:.0f} ms'}")
        stop = tmpd / "stop.wav"
        speak("stop", stop)
        req = tmpd / "req0.wav"
        for at in (3.0, 4.0, 5.0, 6.0, 7.0):
            out = tmpd / f"stop{at}.wav"
            listen([f"{req}@{AT}", f"{stop}@{at}"], out, at + 4.0, args.engine)
            o = read_wav(out)
            stop_end = at + last_sound(read_wav(stop).samples)
            x = np.abs(o.samples.astype(np.int32))
            loud = np.flatnonzero(x > 300)
            if not np.any(loud > int(at * o.rate)):
                silent = at if np.any(loud > int((at - 0.3) * o.rate)) else None
            else:
                # The end of the sound going on when "stop" began: the first gap of 0.3 s after it.
                seg = loud[loud >= int(at * o.rate)]
                gaps = np.flatnonzero(np.diff(seg) > 0.3 * o.rate)
                silent = (seg[gaps[0]] + 1) / o.rate if gaps.size else (seg[-1] + 1) / o.rate
            if silent is None:
                continue  # the coach was not speaking when "stop" came
            stops.append(silent - stop_end)
            starts.append(silent - at)
            print(f"stop at {at:.1f} s: silent {1000 * (silent - stop_end):.0f} ms after the end of the word "
                  f"({1000 * (silent - at):.0f} ms after its start)")
    lats = [lat for _, _, lat in rows if lat is not None]
    med = statistics.median(lats) if lats else float("nan")
    smed = statistics.median(stops) if stops else float("nan")
    print(f"\nreply latency median {med * 1000:.0f} ms over {len(lats)} requests; "
          f"stop -> silence median {smed * 1000:.0f} ms over {len(stops)} tries")
    lines = [
        "# Live loop benchmark", "",
        f"`.venv/bin/python scripts/bench_live.py --engine {args.engine}` on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}: `voicecoach listen --input` at real-time "
        "pace, requests spoken by espeak-ng (voice en-us+f2), times on the input clock.", "",
        f"- **End of speech → first sound of the reply: median {med * 1000:.0f} ms** over {len(lats)} requests "
        "(target ≤ 800 ms, aim 400 ms).",
        f"- **\"stop\" → silence: median {smed * 1000:.0f} ms** from the end of the word over {len(stops)} tries "
        f"(target ≤ 300 ms; negative: cut while the word was still being said, from the partial "
        f"result); median {statistics.median(starts) * 1000 if starts else float('nan'):.0f} ms from its start.", "",
        "| request | heard | reply after |", "|---|---|---|",
    ]
    for req, heard, lat in rows:
        lines.append(f"| {req} | {heard or '(nothing)'} | {'-' if lat is None else f'{lat * 1000:.0f} ms'} |")
    lines += ["", "Stop → silence per try (ms): " + ", ".join(f"{s * 1000:.0f}" for s in stops), ""]
    args.write.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

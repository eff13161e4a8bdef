#!/usr/bin/env python3
"""Benchmark the live loop through `voicecoach listen --input` at real-time pace.

- Reply latency: for each of ten or more different spoken requests, the time from the end of the
  person's speech to the first sound of the coach's reply (both on the input clock: the request's
  placement in the input, the reply's onset in OUT.wav).
- The reply time split (``VOICECOACH_TIMINGS``, the loop's own time stamps on the session clock):
  endpoint wait (end of speech → the endpointer closes the utterance), decode (what is left of
  it after the endpoint: the background decode at the pause overlaps the trailing silence),
  matching (the transcript → its intent), synthesis (the coach planning its reply, which
  synthesises its cues for their lengths unless they were rendered ahead, plus the first cue's
  synthesis when it plays), first audio. The load average is printed before and after.
- Beside it, in the same run: the raw 30-s-window whisper decode of the same requests
  (faster-whisper ``transcribe``), the floor the reply time is compared with.
- Stop → silence: "stop" said while the coach speaks; the time from the end of "stop" to the end
  of the coach's sound in OUT.wav.
- ``--transcribe DIR``: ``voicecoach transcribe --json`` on every WAV in DIR (or the corpus's
  request clips with ``--corpus``), whole-process time over audio time.

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


def listen(inputs: list[str], out: Path, max_seconds: float, engine: str | None,
           timings: Path | None = None) -> str:
    cmd = [sys.executable, "-m", "voicecoach", "listen", "--mute", "--input", *inputs,
           "--output-wav", str(out), "--max-seconds", str(max_seconds)]
    if engine:
        cmd += ["--engine", engine]
    env = dict(os.environ)
    if timings is not None:
        env["VOICECOACH_TIMINGS"] = str(timings)
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=max_seconds + 120, env=env)
    if r.returncode != 0:
        raise SystemExit(f"listen failed: {r.stderr.strip()[-500:]}")
    return r.stdout


def split(timings: Path, end: float, onset: float | None) -> dict[str, float] | None:
    """The reply time of the first result acted on, in parts (seconds), from the loop's stamps."""
    import json

    rows = [json.loads(ln) for ln in timings.read_text().splitlines() if ln.strip()] if timings.is_file() else []
    t = next((r for r in rows if "played" in r), None)
    if t is None or onset is None:
        return None
    planned = t.get("planned", t["matched"])
    return {"endpoint wait": t["endpoint"] - end, "decode": t["decoded"] - t["endpoint"],
            "matching": t["matched"] - t["decoded"],
            "synthesis": (planned - t["matched"]) + (t["synth_end"] - t["synth_start"]),
            "first audio": onset - end}


def raw_decode(wavs: list[Path]) -> list[float]:
    """faster-whisper's own ``transcribe`` (30-s window) of each request: seconds each."""
    from faster_whisper import WhisperModel

    from voicecoach.asr.whisper_engine import BEAM_SIZE, DOMAIN_PROMPT, find_model
    from voicecoach.config import load_config

    model = WhisperModel(str(find_model(load_config())), device="cpu", compute_type="int8",
                         cpu_threads=min(4, os.cpu_count() or 1))
    out = []
    for i, w in enumerate([wavs[0], *wavs]):
        x = read_wav(w).samples.astype("float32") / 32768.0
        t0 = time.perf_counter()
        segs, _ = model.transcribe(x, language="en", beam_size=BEAM_SIZE, without_timestamps=True,
                                   condition_on_previous_text=False, initial_prompt=DOMAIN_PROMPT,
                                   vad_filter=False)
        list(segs)
        if i:  # the first is a warm-up
            out.append(time.perf_counter() - t0)
    return out


def transcribe_batch(wavs: list[Path]) -> tuple[float, float]:
    """(whole-process seconds, audio seconds) of one ``voicecoach transcribe --json`` run."""
    audio = sum(read_wav(w).seconds for w in wavs)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "voicecoach", "transcribe", "--json", *map(str, wavs)],
                       capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"transcribe failed: {r.stderr.strip()[-500:]}")
    return wall, audio


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="pocketsphinx")
    ap.add_argument("--write", type=Path, default=ROOT / "docs" / "benchmarks_live.md")
    ap.add_argument("--transcribe", type=Path, default=None, metavar="DIR",
                    help="also time `voicecoach transcribe --json` on the WAVs in DIR")
    ap.add_argument("--corpus-requests", type=int, default=0, metavar="N",
                    help="also time `transcribe` on N request clips of $VOICECOACH_CORPUS")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    rows: list[tuple[str, str, float | None]] = []
    parts: list[dict[str, float]] = []
    wavs: list[Path] = []
    stops: list[float] = []
    starts: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VOICECOACH_HOME"] = str(Path(tmp) / "home")
        tmpd = Path(tmp)
        for i, req in enumerate(REQUESTS):
            wav = tmpd / f"req{i}.wav"
            speak(req, wav)
            end = AT + last_sound(read_wav(wav).samples)
            wavs.append(wav)
            out = tmpd / f"out{i}.wav"
            tfile = tmpd / f"t{i}.jsonl"
            # Room for a slow reply (a 30-s second opinion on a loaded machine takes seconds): a
            # late reply counts as late, not as unheard.
            stdout = listen([f"{wav}@{AT}"], out, end + 8.0, args.engine, tfile)
            heard = next((ln[7:] for ln in stdout.splitlines() if ln.startswith("heard: ")), "")
            o = read_wav(out)
            onset = sound_after(o.samples, o.rate, end)
            lat = None if onset is None else onset - end
            rows.append((req, heard, lat))
            sp = split(tfile, end, onset)
            if sp is not None:
                parts.append(sp)
                print("   " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in sp.items()))
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
        raws = raw_decode(wavs) if args.engine in ("auto", "whisper") else []
        batch = None
        if args.transcribe is not None or args.corpus_requests:
            files = sorted(args.transcribe.glob("*.wav")) if args.transcribe is not None else []
            if args.corpus_requests:
                import json

                corpus = Path(os.environ.get("VOICECOACH_CORPUS") or Path.home() / ".cache" / "voicecoach" / "corpus")
                man = [json.loads(ln) for ln in (corpus / "manifest.jsonl").read_text().splitlines() if ln.strip()]
                req_rows = [r for r in man if r["kind"] == "request"]
                step = max(1, len(req_rows) // args.corpus_requests)
                files += [corpus / r["file"] for r in req_rows[::step][:args.corpus_requests]]
            batch = transcribe_batch(files) + (len(files),)
    load1 = os.getloadavg()[0]
    lats = [lat for _, _, lat in rows if lat is not None]
    med = statistics.median(lats) if lats else float("nan")
    smed = statistics.median(stops) if stops else float("nan")
    rmed = statistics.median(raws) if raws else float("nan")
    print(f"\nreply latency median {med * 1000:.0f} ms over {len(lats)} requests; "
          f"raw 30-s whisper decode median {rmed * 1000:.0f} ms; "
          f"stop -> silence median {smed * 1000:.0f} ms over {len(stops)} tries; "
          f"load average {load0:.1f} before, {load1:.1f} after")
    names = ["endpoint wait", "decode", "matching", "synthesis", "first audio"]
    split_md = []
    if parts:
        meds = {k: statistics.median(p[k] for p in parts) for k in names}
        print("split (medians): " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in meds.items()))
        split_md = ["", "Where the time goes (medians over the requests acted on; the loop's own time stamps "
                    "on the session clock; the parts overlap, so they need not add up):", "",
                    "| " + " | ".join(names) + " |", "|" + "---|" * len(names),
                    "| " + " | ".join(f"{meds[k] * 1000:.0f} ms" for k in names) + " |"]
    floor_md = []
    if raws:
        floor_md = [f"- **Floor, same run: the raw 30-s-window whisper decode of the same requests** "
                    f"(faster-whisper `transcribe`, tiny.en int8, beam {2}): median {rmed * 1000:.0f} ms; "
                    f"reply / raw decode = {med / rmed:.2f} (target ≤ 0.5, and ≤ 500 ms)."]
    if batch is not None:
        wall, audio_s, n = batch
        print(f"transcribe --json: {n} files, {audio_s:.1f} s of audio in {wall:.1f} s: {wall / audio_s:.2f} x real time")
        floor_md.append(f"- **`voicecoach transcribe --json` of {n} files** ({audio_s:.1f} s of audio), the whole "
                        f"process (start-up and model loading included): {wall:.1f} s, "
                        f"{wall / audio_s:.2f} × real time (target ≤ 0.3).")
    lines = [
        "# Live loop benchmark", "",
        f"`.venv/bin/python scripts/bench_live.py --engine {args.engine}` on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}: `voicecoach listen --input` at real-time "
        "pace, requests spoken by espeak-ng (voice en-us+f2), times on the input clock; "
        f"load average {load0:.1f} before, {load1:.1f} after.", "",
        f"- **End of speech → first sound of the reply: median {med * 1000:.0f} ms** over {len(lats)} requests "
        "(target ≤ 500 ms on this machine).",
        *floor_md,
        f"- **\"stop\" → silence: median {smed * 1000:.0f} ms** from the end of the word over {len(stops)} tries "
        f"(target ≤ 300 ms; negative: cut while the word was still being said, from the partial "
        f"result); median {statistics.median(starts) * 1000 if starts else float('nan'):.0f} ms from its start.", "",
        "| request | heard | reply after |", "|---|---|---|",
    ]
    for req, heard, lat in rows:
        lines.append(f"| {req} | {heard or '(nothing)'} | {'-' if lat is None else f'{lat * 1000:.0f} ms'} |")
    lines += split_md
    lines += ["", "Stop → silence per try (ms): " + ", ".join(f"{s * 1000:.0f}" for s in stops), ""]
    args.write.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

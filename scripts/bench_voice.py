#!/usr/bin/env python3
"""Intelligibility of the coach's voices: a machine's ear as a stand-in for a listener's.

1. Every built-in script rendered (short parameters) with each installed engine's voice, each
   distinct cue cut out by the timeline and transcribed by the project's own dictation
   recogniser (open text: no grammar, no script text as a prompt), WER against the cue text,
   per voice.
2. ``voicecoach render grounding-54321`` with the voice in use, cut into its cues by the
   timeline, every cue through ``voicecoach transcribe --mode dictation --json``: WER against
   the cue texts (target ≤ 0.05).

Usage: .venv/bin/python scripts/bench_voice.py [--engines festival,espeak] [--skip-scripts]
Prints a Markdown section for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHORT = {"cycles": 1, "minutes": 1, "breath_minutes": 1, "sleep_timer": 1, "silence": 2}
"""Parameters that keep each render short (those a script has)."""

_NUM = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
        "7": "seven", "8": "eight", "9": "nine", "10": "ten"}


def words(text: str) -> list[str]:
    t = text.lower().replace("’", "'").replace("-", " ")
    t = re.sub(r"[^a-z0-9' ]+", " ", t)
    return [_NUM.get(w, w) for w in t.split()]


def edits(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def cue_files(audio, cues, out: Path, seen: set[str] | None = None) -> list[tuple[Path, str]]:
    """Each cue's audio (to the next cue or 0.5 s past its end) as a WAV; distinct texts only
    when ``seen`` is given."""
    from voicecoach.audio import write_wav
    from voicecoach.types import AudioChunk

    files = []
    for i, c in enumerate(cues):
        if seen is not None:
            if c["text"] in seen:
                continue
            seen.add(c["text"])
        a = int(c["t"] * audio.rate)
        nxt = cues[i + 1]["t"] if i + 1 < len(cues) else c["t"] + c["duration"] + 0.5
        b = int(min(nxt, c["t"] + c["duration"] + 0.5) * audio.rate)
        p = out / f"cue-{len(files):04d}.wav"
        write_wav(p, AudioChunk(audio.rate, audio.samples[a:b]))
        files.append((p, c["text"]))
    return files


def per_voice(engines: list[str], tmp: Path) -> list[tuple[str, str, int, int, int, float]]:
    from voicecoach.asr import load_speech
    from voicecoach.audio import read_wav, to_asr
    from voicecoach.config import load_config
    from voicecoach.scripts import Library
    from voicecoach.session import make_coach, render_session
    from voicecoach.tts.registry import build, why_unavailable

    config = load_config()
    library = Library.load()
    speech = load_speech(config)
    speech.warm_up()
    rows = []
    for engine in engines:
        if why_unavailable(engine):
            print(f"skip {engine}: {why_unavailable(engine)}", file=sys.stderr)
            continue
        voice = build(engine, config.voice.rate, config.voice.volume, None)
        ref_words = errs = n_cues = 0
        t0 = time.perf_counter()
        seen: set[str] = set()
        for sid, script in sorted(library.scripts.items()):
            params = {k: v for k, v in SHORT.items() if k in script.params}
            coach = make_coach(config, library, voice, answer_timeout=config.dialogue.answer_timeout, home=False)
            r = render_session(coach, voice, sid, params)
            d = tmp / engine / sid
            d.mkdir(parents=True)
            for path, text in cue_files(r.audio, r.timeline()["cues"], d, seen):
                hyp = speech.transcribe(to_asr(read_wav(path)), "dictation").text
                ref = words(text)
                ref_words += len(ref)
                errs += edits(ref, words(hyp))
                n_cues += 1
        rows.append((engine, voice.voice_name, len(library.scripts), n_cues, ref_words, errs / max(1, ref_words)))
        print(f"{engine}: {n_cues} cues, WER {errs / max(1, ref_words):.3f} ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr)
        voice.close()
    return rows


def grounding(tmp: Path) -> tuple[str, int, int, float]:
    from voicecoach.audio import read_wav

    py = sys.executable
    env_cmd = [py, "-m", "voicecoach"]
    wav, tl = tmp / "g.wav", tmp / "g.json"
    subprocess.run([*env_cmd, "render", "grounding-54321", "--out", str(wav), "--timeline", str(tl)],
                   check=True, cwd=ROOT, capture_output=True)
    voices = json.loads(subprocess.run([*env_cmd, "voices", "--json"], check=True, cwd=ROOT,
                                       capture_output=True, text=True).stdout)
    cues = json.loads(tl.read_text())["cues"]
    d = tmp / "grounding"
    d.mkdir()
    files = cue_files(read_wav(wav), cues, d)
    out = subprocess.run([*env_cmd, "transcribe", "--mode", "dictation", "--json", *[str(p) for p, _ in files]],
                         check=True, cwd=ROOT, capture_output=True, text=True).stdout
    hyps = {json.loads(line)["file"]: json.loads(line).get("text", "") for line in out.splitlines() if line.strip()}
    ref_words = errs = 0
    for p, text in files:
        ref = words(text)
        ref_words += len(ref)
        errs += edits(ref, words(hyps.get(str(p), "")))
    voice = f"{voices['in_use']['engine']} {voices['in_use']['name']}"
    return voice, len(files), ref_words, errs / max(1, ref_words)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engines", default="festival,espeak,pyttsx3")
    ap.add_argument("--skip-scripts", action="store_true", help="only the grounding-54321 check")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        t0 = time.perf_counter()
        g = grounding(tmp)
        print(f"grounding: {g} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        rows = [] if args.skip_scripts else per_voice(args.engines.split(","), tmp)
    print("## Voice intelligibility (scripts/bench_voice.py)\n")
    print(f"`render grounding-54321` with the voice in use ({g[0]}), cut into its {g[1]} cues by the "
          f"timeline, each through `transcribe --mode dictation --json`: **WER {g[3]:.3f}** over {g[2]} words "
          "(target ≤ 0.05).\n")
    if rows:
        print("Every built-in script rendered with short parameters; each distinct cue transcribed by the "
              "dictation recogniser:\n")
        print("| engine | voice | scripts | distinct cues | words | WER |")
        print("|---|---|---|---|---|---|")
        for engine, name, n_scripts, n_cues, n_words, wer in rows:
            print(f"| {engine} | {name} | {n_scripts} | {n_cues} | {n_words} | {wer:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

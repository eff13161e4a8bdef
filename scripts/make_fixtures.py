#!/usr/bin/env python3
"""Synthesise the speech-recognition test WAVs with espeak-ng (and sox for the noisy copies).

    python scripts/make_fixtures.py OUT_DIR [--set all|requests|crisis|dictation|korean]
        [--no-noise] [--voices N]

Writes 16 kHz mono 16-bit WAVs and ``manifest.json``: a list of
``{"file", "text", "intent", "crisis", "set", "voice", "language", "noise"}``. ``intent`` is the
name the intents module should give the sentence (null for dictation lines); ``crisis`` is true for
the statements the crisis screen must catch. The same command always gives the same files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# (text, intent, crisis)
REQUESTS: list[tuple[str, str, bool]] = [
    ("I'm anxious", "anxious", False),
    ("I feel really anxious right now", "anxious", False),
    ("I'm panicking", "anxious", False),
    ("can we breathe", "breathe", False),
    ("help me breathe", "breathe", False),
    ("ground me", "ground", False),
    ("I need to ground myself", "ground", False),
    ("I can't sleep", "sleep", False),
    ("help me fall asleep", "sleep", False),
    ("help me relax", "relax", False),
    ("help me reframe this thought", "reframe", False),
    ("stop", "stop", False),
    ("pause", "pause", False),
    ("next", "skip", False),
    ("tell me more", "more", False),
    ("yes", "yes", False),
    ("no", "no", False),
]

CRISIS: list[tuple[str, str, bool]] = [
    ("I want to kill myself", "crisis", True),
    ("I've been saving my pills", "crisis", True),
    ("I want to die", "crisis", True),
    ("I'm going to hurt myself", "crisis", True),
    ("everyone would be better off without me", "crisis", True),
]

# Read sentences for the dictation word error rate (thought-record style answers).
DICTATION: list[str] = [
    "my partner did not answer my message for three hours",
    "i felt scared that they were angry with me",
    "the evidence for the thought is that they seemed quiet at dinner",
    "a kinder way to see it is that they were tired after work",
    "i would tell a good friend that one late reply means nothing",
    "i feel lonely when you stay out late because i miss you",
]

# Korean for the Vosk Korean model (words in its vocabulary), with their meaning.
KOREAN: list[tuple[str, str]] = [
    ("안녕하세요", "hello"),
    ("감사합니다", "thank you"),
    ("좋아요", "good / yes"),
    ("그만", "stop"),
    ("죽고 싶어요", "I want to die"),
]

# (espeak-ng voice, words per minute, pitch 0-99)
VOICES: list[tuple[str, int, int]] = [
    ("en-us", 160, 50),
    ("en-gb", 150, 40),
    ("en+f3", 170, 60),
    ("en-us+m3", 140, 35),
    ("en-gb+f2", 185, 70),
]


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"make_fixtures: {' '.join(cmd[:2])} failed: {proc.stderr.strip()}")


def speak(text: str, voice: str, wpm: int, pitch: int, out: Path) -> None:
    """espeak-ng → 16 kHz mono 16-bit WAV with a little silence either side."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        _run(["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "-w", str(raw), text])
        _run(["sox", "-R", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out), "pad", "0.3", "0.4"])


def add_noise(clean: Path, out: Path, kind: str = "pinknoise", level: float = 0.08) -> None:
    """Mix synthetic noise under the speech (about 10-15 dB SNR for espeak-ng's level)."""
    dur = subprocess.run(["soxi", "-D", str(clean)], capture_output=True, text=True, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        noise = Path(tmp) / "noise.wav"
        _run(["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", str(noise), "synth",
              dur.stdout.strip(), kind, "vol", str(level)])
        _run(["sox", "-R", "-m", str(clean), str(noise), "-b", "16", str(out)])


def build(out_dir: Path, which: str = "all", noise: bool = True, voices: int = len(VOICES)) -> list[dict]:
    """Write the WAVs and manifest.json into ``out_dir``; return the manifest."""
    for tool in ("espeak-ng", "sox", "soxi"):
        if shutil.which(tool) is None:
            raise SystemExit(f"make_fixtures: {tool} is not installed (apt-get install espeak-ng sox)")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: list[dict] = []
    chosen = VOICES[: max(1, voices)]

    def add(name: str, text: str, intent: str | None, crisis: bool, group: str,
            voice: tuple[str, int, int], language: str = "en") -> None:
        path = out_dir / f"{name}.wav"
        speak(text, *voice, path)
        manifest.append({"file": path.name, "text": text, "intent": intent, "crisis": crisis,
                         "set": group, "voice": "/".join(map(str, voice)), "language": language,
                         "noise": None})

    if which in ("all", "requests", "crisis"):
        groups = []
        if which in ("all", "requests"):
            groups.append(("req", REQUESTS))
        if which in ("all", "crisis"):
            groups.append(("crisis", CRISIS))
        for group, items in groups:
            for i, (text, intent, crisis) in enumerate(items):
                for v, voice in enumerate(chosen):
                    add(f"{group}-{i:02d}-v{v}", text, intent, crisis, group, voice)
    if which in ("all", "dictation"):
        for i, text in enumerate(DICTATION):
            for v, voice in enumerate(chosen[:2]):
                add(f"dict-{i:02d}-v{v}", text, None, False, "dictation", voice)
    if which in ("all", "korean"):
        for i, (text, _roman) in enumerate(KOREAN):
            add(f"ko-{i:02d}", text, None, False, "korean", ("ko", 140, 50), language="ko")
    if noise:
        noisy = []
        for item in manifest:
            if item["set"] not in ("req", "crisis", "dictation") or not item["file"].endswith("v0.wav"):
                continue
            name = item["file"].replace(".wav", "-noise.wav")
            add_noise(out_dir / item["file"], out_dir / name)
            noisy.append(dict(item, file=name, noise="pink"))
        manifest.extend(noisy)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--set", default="all",
                    choices=["all", "requests", "crisis", "dictation", "korean"])
    ap.add_argument("--no-noise", action="store_true", help="skip the noise-mixed copies")
    ap.add_argument("--voices", type=int, default=len(VOICES), help="how many voices (1-5)")
    args = ap.parse_args(argv)
    manifest = build(args.out_dir, args.set, noise=not args.no_noise, voices=args.voices)
    print(f"{len(manifest)} files in {args.out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Make the spoken requests `voicecoach demo` feeds to the coach: voicecoach/data/demo/*.wav.

espeak-ng with a female English voice (the coach speaks with the default male one, so the two
are easy to tell apart in the demo's WAV), resampled to 16 kHz mono 16-bit the way the coach's microphone path resamples.
Run from the repository root: .venv/bin/python scripts/make_demo_wavs.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from voicecoach.audio import read_wav, to_asr, write_wav

VOICE = "en-us+f2"
WPM = 130
OUT = Path(__file__).resolve().parent.parent / "voicecoach" / "data" / "demo"

PHRASES = {
    "help-me-breathe": "Help me breathe.",
    "stop": "Stop.",
    "ground-me": "ground me",
    "see": "The lamp, the window, the door, a book, and my phone.",
    "touch": "The blanket, the pillow, my hands, and the air.",
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in PHRASES.items():
            raw = Path(tmp) / f"{name}.wav"
            subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(WPM), "-w", str(raw), text], check=True)
            write_wav(OUT / f"{name}.wav", to_asr(read_wav(raw)))
            print(f"{OUT / f'{name}.wav'}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

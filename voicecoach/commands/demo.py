"""voicecoach demo: the coach with no microphone. Spoken requests from bundled WAVs go through the
same path as `voicecoach listen --input` in virtual time: "help me breathe" starts a breathing
session and a "stop" said over the coach ends it; "ground me" starts grounding, answered out
loud, and a second "stop" ends that. The transcript is printed, and the whole conversation
(requests and replies on one timeline) is written to one WAV and played when there are speakers."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEMO_PARAMS: dict[str, Any] = {"cycles": 2, "rate_anxiety": False, "counting": False}
"""Short sessions for the demo (applied where a script declares the parameter)."""
DEFAULT_NAME = "voicecoach-demo.wav"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", metavar="FILE.wav", type=Path,
                   help=f"where to write the conversation (default: ./{DEFAULT_NAME}, or the data "
                        "directory when the current one is not writable)")
    p.add_argument("--no-play", action="store_true", help="don't play the result to the speakers")
    p.add_argument("--engine", metavar="NAME", help="speech engine: auto, vosk, pocketsphinx, whisper")


def run(args: argparse.Namespace) -> int:
    from voicecoach.commands._common import config_and_library, make_voice
    from voicecoach.commands.listen import load_engines
    from voicecoach.config import data_path, ensure_home
    from voicecoach.display import Display
    from voicecoach.errors import EngineUnavailable
    from voicecoach.live import LiveLoop
    from voicecoach.mic import FileMic, Placement
    from voicecoach.session import make_coach, output_path_ok
    from voicecoach.tape import write_output

    config, library = config_and_library()
    out = args.out
    if out is None:
        out = Path(DEFAULT_NAME)
        if not os.access(".", os.W_OK):
            out = ensure_home(config.home) / DEFAULT_NAME
    output_path_ok(out)
    voice = make_voice(config, quiet=True)
    if getattr(voice, "name", "") == "silent":
        print("voicecoach: no speech engine found (install espeak-ng: sudo apt install espeak-ng); "
              "the coach's words are printed and its part of the WAV is silent.")
    elif getattr(voice, "fallback_reason", None):
        print(f"voicecoach: {voice.fallback_reason}")
    try:
        speech = load_engines(config, args.engine)
    except EngineUnavailable as exc:
        print(f"voicecoach: no speech recogniser could load: {exc}")
        return 1
    print(f"voicecoach: hearing with {speech.engine_for('command')} (commands) and "
          f"{speech.engine_for('dictation')} (answers).")

    holder: dict[str, LiveLoop] = {}

    def loop() -> LiveLoop:
        return holder["loop"]

    def breathing_out(t: float) -> bool:  # noqa: ARG001
        lp = loop()
        return lp.display.phase == "exhale" and lp.player.busy

    def idle_and_quiet(t: float) -> bool:  # noqa: ARG001
        lp = loop()
        return lp.coach.idle and lp.quiet_for() >= 1.0

    def asked(t: float) -> bool:  # noqa: ARG001
        # A new question (asked after the previous file began), and nothing still being heard.
        lp = loop()
        lst = lp.coach.listening
        prev = max((p.start for p in placements if p.start is not None), default=0.0)
        return (lst is not None and lst.since > prev and lp.ear.rec is None
                and lp.quiet_for() >= 0.6)

    def mid_sentence(t: float) -> bool:  # noqa: ARG001
        lp = loop()
        last = lp.player.played[-1] if lp.player.played else None
        return (lp.player.busy and lp.ear.rec is None and last is not None
                and last.chunk.seconds >= 2.5 and lp.now() - last.start >= 1.2)

    demo = data_path("demo")
    files = [
        ("help-me-breathe", "Help me breathe.", None),
        ("stop", "Stop. (said while the coach speaks)", breathing_out),
        ("ground-me", "Ground me.", idle_and_quiet),
        ("see", "The lamp, the window, the door, a book, and my phone.", asked),
        ("touch", "The blanket, the pillow, my hands, and the air.", asked),
        ("stop", "Stop. (said while the coach speaks)", mid_sentence),
    ]
    placements = [Placement(demo / f"{name}.wav", 0.5 if i == 0 else None, when, label)
                  for i, (name, label, when) in enumerate(files)]
    source = FileMic(placements, realtime=False)
    display = Display(live=False)
    source.on_start = lambda p: display.line(f"you:   {p.label}")

    coach = make_coach(config, library, voice, journal=None, answer_timeout=config.dialogue.answer_timeout,
                       home=False)
    coach.script_defaults = dict(DEMO_PARAMS)  # every script the demo starts is short
    a = config.audio
    lp = LiveLoop(coach, voice, speech, source, display=display,
                  silences={"command": a.command_silence, "request": a.request_silence,
                            "dictation": a.dictation_silence}, max_utterance=a.max_utterance)
    holder["loop"] = lp
    print("voicecoach: a demo conversation, no microphone needed (requests from bundled recordings).")
    try:
        lp.run(coach.begin(0.0, None), max_seconds=180.0)
    finally:
        seconds = lp.now() + 0.5
        n = int(round(seconds * 16000))
        write_output(out, lp.player, seconds, extra=source.mix(n), rate=16000)
    print(f"voicecoach: wrote the conversation to {out} ({seconds:.0f} s: your requests and the coach's replies).")
    if not args.no_play:
        _play(config, out)
    return 0


def _play(config, path: Path) -> None:
    from voicecoach.audio import read_wav
    from voicecoach.player import open_player

    player, reason = open_player(config)
    if reason:
        print(f"voicecoach: not playing it: {reason}")
        return
    chunk = read_wav(path)
    print("voicecoach: playing it now (Ctrl-C to skip)...")
    try:
        player.play(chunk)
        player.wait(chunk.seconds + 2.0)
    except KeyboardInterrupt:
        print("voicecoach: skipped.", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - the WAV is written; playing is a bonus
        print(f"voicecoach: could not play it: {exc}")
    finally:
        player.close()

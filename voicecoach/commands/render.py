"""voicecoach render SCRIPT --out FILE.wav [--timeline FILE.json] [--answers FILE]"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from voicecoach.commands._common import (
    add_set_option,
    config_and_library,
    make_voice,
    script_and_params,
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("script", metavar="SCRIPT", help="a script id (see 'voicecoach scripts list') or a YAML file")
    p.add_argument("--out", required=True, metavar="FILE.wav", help="where to write the session audio")
    p.add_argument("--timeline", metavar="FILE.json", help="also write every cue's time, length, text and phase")
    p.add_argument("--answers", metavar="FILE", help="answers to the script's questions, one per line (without: optional questions are skipped, required ones take their default)")
    add_set_option(p)


def run(args: argparse.Namespace) -> int:
    from voicecoach.audio import atomic_write_bytes, write_wav
    from voicecoach.errors import VoicecoachError
    from voicecoach.session import make_coach, output_path_ok, render_session, script_fade

    out = Path(args.out)
    output_path_ok(out)
    if args.timeline:
        output_path_ok(Path(args.timeline))
    answers: list[str] = []
    if args.answers:
        try:
            answers = [ln.strip() for ln in Path(args.answers).read_text(encoding="utf-8").splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise VoicecoachError(f"{args.answers}: cannot read answers ({getattr(exc, 'strerror', None) or exc})") from None
    config, library = config_and_library()
    script, params = script_and_params(library, args.script, args.sets)
    voice = make_voice(config, quiet=True, live=False)
    if getattr(voice, "fallback_reason", None):
        raise VoicecoachError(f"cannot render speech: {voice.fallback_reason}")
    coach = make_coach(config, library, voice, journal=None, answer_timeout=config.dialogue.answer_timeout, home=False)
    rendered = render_session(coach, voice, script.id, params, answers, fade_seconds=script_fade(library, script.id))
    write_wav(out, rendered.audio)
    if args.timeline:
        atomic_write_bytes(Path(args.timeline), (json.dumps(rendered.timeline(), indent=1) + "\n").encode())
    print(f"{out}: {rendered.audio.seconds:.1f} s, {len(rendered.cues)} cues")
    return 0

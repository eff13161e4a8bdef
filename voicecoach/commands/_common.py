"""Pieces several commands share: config, the script library, script parameters, the voice."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from voicecoach.config import Config, load_config
from voicecoach.errors import VoicecoachError
from voicecoach.scripts import Library, Script


def add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                        help="set a script parameter, e.g. --set cycles=40 (repeatable)")


def config_and_library() -> tuple[Config, Library]:
    config = load_config()
    library = Library.load(config.home)
    for problem in library.problems:
        print(f"voicecoach: skipped a user script: {problem}", file=sys.stderr)
    return config, library


def script_and_params(library: Library, ref: str, sets: list[str]) -> tuple[Script, dict[str, Any]]:
    script = library.get(ref)
    if ref not in library.scripts:
        # A script given as a file: make it startable by id for this run.
        library.scripts[script.id] = script
    errs = library.check_starts(script)
    if errs:
        raise errs[0]
    params = dict(script.parse_param(s) for s in sets)
    return script, params


def make_voice(config: Config, mute: bool = False, quiet: bool = False, live: bool = True):
    """The configured voice. ``live``: a session in front of a person, where speech failing
    mid-session falls back to printed words (render, which must not write silence, says False)."""
    from voicecoach.tts.base import FallbackVoice
    from voicecoach.tts.registry import make_voice as _make

    voice = _make(config.voice, mute=mute, home=config.home)
    reason = getattr(voice, "fallback_reason", None)
    if reason and not quiet:
        print(f"voicecoach: {reason}", file=sys.stderr)
    if live:
        voice = FallbackVoice(voice, notify=lambda msg: print(f"voicecoach: {msg}", file=sys.stderr, flush=True))
    return voice


def fail(message: str) -> VoicecoachError:
    return VoicecoachError(message)

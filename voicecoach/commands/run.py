"""voicecoach run SCRIPT: speak a script live (answers typed, or they time out)."""

from __future__ import annotations

import argparse
import sys

from voicecoach.commands._common import add_set_option


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("script", metavar="SCRIPT", help="a script id or a YAML file")
    p.add_argument("--mute", action="store_true", help="print only, don't speak")
    add_set_option(p)


def run(args: argparse.Namespace) -> int:
    from voicecoach.commands._common import config_and_library, make_voice, script_and_params
    from voicecoach.player import NullPlayer, open_player
    from voicecoach.session import (
        Printer,
        RealtimeRunner,
        load_disclaimer,
        make_coach,
        open_journal,
        stdin_lines_to,
        warm_cues,
    )

    config, library = config_and_library()
    script, params = script_and_params(library, args.script, args.sets)
    voice = make_voice(config, mute=args.mute)
    player, reason = (NullPlayer(), None) if args.mute else open_player(config)
    if reason:
        print(f"voicecoach: {reason}", file=sys.stderr)
    journal = open_journal(config)
    try:
        coach = make_coach(config, library, voice, journal=journal, answer_timeout=config.dialogue.answer_timeout)
        warm_cues(voice, [script])
        runner = RealtimeRunner(coach, voice, player, Printer(show_steps=True))
        first = coach.begin(runner.now(), script.id, params, disclaimer=load_disclaimer())
        if sys.stdin is not None and sys.stdin.isatty():
            stdin_lines_to(runner, sys.stdin)
        runner.run(first, stop_when_idle=True)
        player.wait(5)
        return 0
    finally:
        player.close()
        if journal is not None:
            journal.close()

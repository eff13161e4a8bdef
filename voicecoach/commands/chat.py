"""voicecoach chat [--mute] [--script ID]: a typed conversation with the coach."""

from __future__ import annotations

import argparse
import sys

from voicecoach.commands._common import add_set_option


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mute", action="store_true", help="print only, don't speak")
    p.add_argument("--script", metavar="ID", help="start this script straight away")
    add_set_option(p)


def run(args: argparse.Namespace) -> int:
    from voicecoach.commands._common import config_and_library, make_voice, script_and_params
    from voicecoach.session import (
        Printer,
        RealtimeRunner,
        VirtualChat,
        load_disclaimer,
        make_coach,
        open_journal,
        stdin_lines_to,
    )

    config, library = config_and_library()
    params: dict[str, object] = {}
    script_id = None
    if args.script:
        script, params = script_and_params(library, args.script, args.sets)
        script_id = script.id
    interactive = sys.stdin.isatty()
    voice = make_voice(config, mute=args.mute)
    journal = open_journal(config)
    printer = Printer()
    try:
        if not interactive:
            # Scripted: each line answers the next question; no timeouts; waits pass at once.
            coach = make_coach(config, library, voice, journal=journal, answer_timeout=None)
            speak = None
            if not args.mute:
                player = _player(config)
                if player is not None:
                    def speak(action, _p=player, _v=voice):
                        from voicecoach.runner import cut

                        _p.play(cut(_v.synthesize(action.cue.text, action.settings), action.cue), action.cue.text)
                        _p.wait()
            first = coach.begin(0.0, script_id, params, disclaimer=load_disclaimer())
            VirtualChat(coach, printer, speak).run(sys.stdin, first)
            return 0
        from voicecoach.player import NullPlayer

        coach = make_coach(config, library, voice, journal=journal, answer_timeout=config.dialogue.answer_timeout,
                           warm=True)
        player = NullPlayer() if args.mute else (_player(config) or NullPlayer())
        runner = RealtimeRunner(coach, voice, player, printer)
        if script_id is None:
            printer._write("coach: Hi. How are you feeling? (type 'help' for ideas, Ctrl-D to leave)")
        first = coach.begin(runner.now(), script_id, params, disclaimer=load_disclaimer())
        stdin_lines_to(runner, sys.stdin)
        runner.run(first, stop_when_idle=False)
        return 0
    finally:
        if journal is not None:
            journal.close()


def _player(config):
    from voicecoach.player import open_player

    player, reason = open_player(config)
    if reason:
        print(f"voicecoach: {reason}", file=sys.stderr)
        return None
    return player

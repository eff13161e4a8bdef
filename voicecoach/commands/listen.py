"""voicecoach listen: hands-free. Listens to the microphone (or WAV files fed as if spoken into
it) and answers out loud. See docs/live.md."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", metavar="DEV", help="microphone name or index (see `voicecoach devices`)")
    p.add_argument("--input", metavar="FILE.wav[@SECONDS]", nargs="+", action="extend", default=[],
                   help="feed WAV files as if spoken into the microphone: back to back, or starting "
                        "at SECONDS on the input clock")
    p.add_argument("--output-wav", metavar="OUT.wav", type=Path,
                   help="write everything the coach says to this WAV (sample 0 = the start of the input)")
    p.add_argument("--max-seconds", metavar="N", type=float, help="stop when the input clock reaches N seconds")
    p.add_argument("--fast", action="store_true", help="with --input: virtual time, no waiting (and no sound)")
    p.add_argument("--echo-gain-db", metavar="DB", type=float,
                   help="with --input: add the coach's played audio to the input at this gain "
                        "(0 = the played samples unchanged), as a room would")
    p.add_argument("--echo-delay-ms", metavar="MS", type=float,
                   help="with --input: the delay of that echo (default 60 ms when --echo-gain-db is given)")
    p.add_argument("--engine", metavar="NAME", help="speech engine: auto, vosk, pocketsphinx, whisper")
    p.add_argument("--mute", action="store_true", help="print what the coach says instead of playing it")


def run(args: argparse.Namespace) -> int:
    from voicecoach.commands._common import config_and_library, make_voice
    from voicecoach.display import Display
    from voicecoach.errors import VoicecoachError
    from voicecoach.live import LiveLoop
    from voicecoach.mic import FileMic, SoundDeviceMic, Source
    from voicecoach.room import check_room
    from voicecoach.session import load_disclaimer, make_coach, open_journal, output_path_ok
    from voicecoach.tape import write_output

    if args.fast and not args.input:
        raise VoicecoachError("--fast needs --input files (a microphone cannot run in virtual time)")
    room = None
    if args.echo_gain_db is not None or args.echo_delay_ms is not None:
        if not args.input:
            raise VoicecoachError("--echo-gain-db/--echo-delay-ms need --input files (a microphone "
                                  "in a room already hears the coach)")
        room = (0.0 if args.echo_gain_db is None else args.echo_gain_db,
                60.0 if args.echo_delay_ms is None else args.echo_delay_ms)
        check_room(*room)
    if args.output_wav is not None:
        output_path_ok(args.output_wav)
    config, library = config_and_library()
    source: Source | None = FileMic.from_specs(args.input, realtime=not args.fast) if args.input else None
    display = Display()
    voice = make_voice(config, mute=False)
    speech = load_engines(config, args.engine)
    speaker = None
    if not args.fast and not args.mute:
        from voicecoach.player import open_player

        speaker, reason = open_player(config)
        if reason:
            display.line(f"voicecoach: {reason}")
            speaker = None
    if source is None:
        source = SoundDeviceMic(args.device if args.device is not None else config.audio.input_device,
                                notice=display.notice)
    journal = open_journal(config)
    a = config.audio
    loop = None
    try:
        coach = make_coach(config, library, voice, journal=journal, answer_timeout=config.dialogue.answer_timeout,
                           warm=True)
        loop = LiveLoop(coach, voice, speech, source, speaker=speaker, display=display,
                        silences={"command": a.command_silence, "request": a.request_silence,
                                  "dictation": a.dictation_silence},
                        max_utterance=a.max_utterance, wake_phrase=a.wake_phrase,
                        echo_cancel=a.echo_cancel, room=room)
        _on_signals(loop)
        display.line(f"voicecoach: {load_disclaimer()}")
        if not args.input:
            display.line("voicecoach: listening. Say \"I'm anxious\", \"help me breathe\" or \"ground me\"; "
                         "\"stop\" at any time; Ctrl-C to leave.")
        # At a microphone the first run also speaks the disclaimer (files as input stay exact).
        spoken = None if args.input else load_disclaimer()
        loop.run(coach.begin(loop.now(), None, disclaimer=spoken), max_seconds=args.max_seconds)
        return 0
    finally:
        display.close()
        if loop is not None:
            if args.output_wav is not None:
                write_output(args.output_wav, loop.player, loop.now())
                print(f"voicecoach: wrote {args.output_wav}", file=sys.stderr)
            _write_timings(loop)
            _write_echo_input(loop)
            loop.player.close()
        elif speaker is not None:
            speaker.close()
        source.close()
        if journal is not None:
            journal.close()


def _write_timings(loop) -> None:
    """``VOICECOACH_TIMINGS=FILE``: the reply timings (``LiveLoop.timings``) as JSON lines, for
    ``scripts/bench_live.py``."""
    import json
    import os

    path = os.environ.get("VOICECOACH_TIMINGS")
    if not path:
        return
    with open(path, "w", encoding="utf-8") as fh:
        for t in loop.timings:
            fh.write(json.dumps(t) + "\n")


def _write_echo_input(loop) -> None:
    """With ``VOICECOACH_TRACE=FILE``: what the echo path was given, in ``FILE.npz`` (the
    microphone chunks and their session times, and the reference over the whole run), so that
    ``scripts/replay_echo.py`` can run the same cancellation again."""
    if loop.echo is None or not loop.echo_input:
        return
    import numpy as np

    from voicecoach.trace import save_arrays

    x = loop.echo_input
    save_arrays(ref=loop.echo.reference(0.0, int(loop.now() * 16000)), t=np.array([t for t, _ in x]),
                n=np.array([len(c) for _, c in x]), mic=np.concatenate([c for _, c in x]),
                underflows=getattr(loop.player.inner, "underflows", -1))


def load_engines(config, engine: str | None):
    """The recognisers, loaded and warmed up before the first sample is heard."""

    from voicecoach.asr import load_speech

    speech = load_speech(config, engine=engine)
    # Quiet noise, not digital silence (which whisper skips), so the first real utterance pays
    # no one-off cost.
    speech.warm_up()
    return speech


def _on_signals(loop) -> None:
    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        loop.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass

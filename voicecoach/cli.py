"""The ``voicecoach`` command. Each sub-command lives in ``voicecoach/commands/<name>.py`` with
``configure(parser)`` and ``run(args) -> int``, imported only when it is used."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from voicecoach import __version__
from voicecoach.errors import VoicecoachError

COMMANDS: list[tuple[str, str, str]] = [
    # (command, module under voicecoach.commands, one-line help)
    ("demo", "demo", "a spoken demo with no microphone: bundled requests recognised and answered"),
    ("run", "run", "speak a script live"),
    ("render", "render", "render a whole session to a WAV (and a timeline) without waiting"),
    ("chat", "chat", "a typed conversation with the coach"),
    ("listen", "listen", "hands-free: listen to the microphone (or WAV files) and answer"),
    ("devices", "devices", "list audio devices"),
    ("voices", "voices", "list the installed voices and the one in use"),
    ("scripts", "scripts", "list or validate scripts"),
    ("intent", "intent", "show what the coach understands from a sentence"),
    ("transcribe", "transcribe", "recognise speech in WAV files"),
    ("models", "models", "list or download speech models"),
    ("journal", "journal", "your journal: list, show, export, stats, delete"),
]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser. ``only``: configure just that command's options (the others get
    their one-line help), so start-up imports one command module, not all of them."""
    parser = argparse.ArgumentParser(
        prog="voicecoach",
        description="An offline, private voice companion for relationship anxiety. "
        "Self-help, not treatment.",
    )
    parser.add_argument("--version", action="version", version=f"voicecoach {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, helptext in COMMANDS:
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.set_defaults(_module=module)
        if only is None or only == name:
            _configure(p, module)
    return parser


def _configure(parser: argparse.ArgumentParser, module: str) -> None:
    # Only a module's argument definitions are needed to build --help; modules keep heavy
    # imports (audio, speech engines) inside run().
    mod = importlib.import_module(f"voicecoach.commands.{module}")
    mod.configure(parser)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = {name for name, _, _ in COMMANDS}
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in names else "")
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        mod = importlib.import_module(f"voicecoach.commands.{args._module}")
        return int(mod.run(args) or 0)
    except VoicecoachError as exc:
        print(f"voicecoach: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("voicecoach: stopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _raise_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt

"""``voicecoach intent [--json] [TEXT]``: show what the coach understands from a sentence.

With no TEXT, one utterance per line is read from stdin (blank lines skipped). ``--json`` prints
one object per utterance: ``{"text", "intent", "best", "confidence", "slots", "crisis"}``.
"""

from __future__ import annotations

import argparse
import json
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="*", metavar="TEXT", help="an utterance (default: lines from stdin)")
    parser.add_argument("--json", action="store_true", help="one JSON object per utterance")
    parser.add_argument("--session", action="store_true", help="as if a session were running (controls win)")
    parser.add_argument("--answer", action="store_true",
                        help="as if answering a question (only clear commands are commands)")


def run(args: argparse.Namespace) -> int:
    from voicecoach.config import home_dir
    from voicecoach.intents import load_matcher

    matcher = load_matcher(home_dir())
    if args.text:
        lines = [" ".join(args.text)]
    else:
        lines = [line.rstrip("\n") for line in sys.stdin]
    for line in lines:
        if not line.strip():
            continue
        m = matcher.match(line, in_session=args.session, expecting_answer=args.answer)
        if args.json:
            print(json.dumps({
                "text": line, "intent": m.name, "best": m.best, "confidence": m.confidence,
                "slots": m.slots, "crisis": m.crisis,
            }), flush=True)
        else:
            name = m.name or f"(unsure; best guess {m.best})"
            slots = " ".join(f"{k}={v}" for k, v in m.slots.items() if v is not None)
            flag = "  CRISIS" if m.crisis else ""
            print(f"{line}\n  -> {name}  {m.confidence:.2f}{'  ' + slots if slots else ''}{flag}", flush=True)
    return 0

"""voicecoach scripts list [--json] | voicecoach scripts validate FILE..."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="the scripts you can run")
    ls.add_argument("--json", action="store_true", help="one JSON array: id, title, techniques, intents, source")
    val = sub.add_parser("validate", help="check script files; every problem as file:line")
    val.add_argument("files", nargs="+", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    from voicecoach.commands._common import config_and_library
    from voicecoach.scripts import validate_files

    config, library = config_and_library()
    if args.action == "list":
        rows = [
            {"id": s.id, "title": s.title, "techniques": list(s.techniques), "intents": list(s.intents),
             "source": s.source, "description": s.description, "params": {p.name: p.default for p in s.params.values()}}
            for s in sorted(library.scripts.values(), key=lambda s: s.id)
        ]
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            width = max(len(r["id"]) for r in rows)
            for r in rows:
                print(f"{r['id']:<{width}}  {r['title']}  ({', '.join(r['intents']) or '-'})")
        return 0
    problems = validate_files([Path(f) for f in args.files], library)
    for problem in problems:
        print(problem, file=sys.stderr)
    from voicecoach.script_parser import cue_warnings
    from voicecoach.scripts import load_script_file

    for f in args.files:
        script, _ = load_script_file(Path(f))
        for line, message in cue_warnings(script, config.voice.rate) if script is not None else []:
            print(f"{f}:{line or 1}: warning: {message}", file=sys.stderr)
    if problems:
        return 1
    print(f"{len(args.files)} file(s) OK")
    return 0

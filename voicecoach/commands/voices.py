"""voicecoach voices [--json]: the installed voices, and the one in use."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help='print {"in_use": {...}, "installed": [...]}')


def run(args: argparse.Namespace) -> int:
    import json

    from voicecoach.config import load_config
    from voicecoach.errors import VoicecoachError
    from voicecoach.tts.registry import (
        ENGINES,
        build,
        installed_voices,
        voice_name,
        why_unavailable,
    )

    config = load_config()
    cfg = config.voice
    if cfg.engine in ENGINES:
        reason = why_unavailable(cfg.engine, config.home)
        if reason:
            raise VoicecoachError(f"voice.engine is {cfg.engine}, but {reason}")
    installed = installed_voices(config.home)
    in_use: dict[str, str | None] = {"engine": None, "name": None}
    if cfg.engine == "none":
        in_use = {"engine": "none", "name": None}
    else:
        from voicecoach.tts.registry import make_voice

        voice = make_voice(cfg, home=config.home)
        try:
            if voice.name != "silent":
                in_use = {"engine": voice.name, "name": voice.voice_name}
        finally:
            voice.close()
        if cfg.engine != "auto" and in_use["engine"] != cfg.engine:
            try:
                build(cfg.engine, cfg.rate, cfg.volume, voice_name(cfg), config.home).close()
            except VoicecoachError as exc:
                raise VoicecoachError(f"voice.engine is {cfg.engine}, but it is not working: {exc}") from None
    if args.json:
        print(json.dumps({"in_use": in_use, "installed": [{"engine": v.engine, "name": v.name} for v in installed]}))
        return 0
    if in_use["engine"] is None:
        print("in use: none (no speech engine works; install festival festvox-us-slt-hts or espeak-ng)")
    else:
        print(f"in use: {in_use['engine']} {in_use['name'] or ''}".rstrip())
    print("installed:")
    for v in installed:
        mark = "*" if (v.engine, v.name) == (in_use["engine"], in_use["name"]) else " "
        print(f" {mark} {v.engine:9} {v.name}")
    if not installed:
        print("   (none)")
    print("choose with voice.engine and voice.name in config.yaml")
    return 0

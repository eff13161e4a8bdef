"""``voicecoach transcribe``: recognise speech in WAV files, with the intent each one asks for."""

from __future__ import annotations

import argparse
import json
import sys
import time


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="WAV files (any format)")
    parser.add_argument("--engine", choices=["auto", "vosk", "pocketsphinx", "whisper"],
                        help="speech engine (default: asr.engine in config)")
    parser.add_argument("--mode", choices=["request", "command", "dictation"], default="request",
                        help="request (default): open text cross-checked with the command phrases; "
                        "command: the closed phrase set; dictation: open text")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")


def run(args: argparse.Namespace) -> int:
    from voicecoach.asr import load_speech
    from voicecoach.audio import read_wav, to_asr
    from voicecoach.config import load_config
    from voicecoach.errors import VoicecoachError

    config = load_config()
    speech = load_speech(config, engine=args.engine)  # once, for every file
    speech.warm_up()
    engine = speech.engine_for(args.mode)
    match = speech.matcher
    status = 0
    for path in args.files:
        try:
            chunk = to_asr(read_wav(path))
            t0 = time.perf_counter()
            tr = speech.transcribe(chunk, args.mode)
            decode = time.perf_counter() - t0
            m = match(tr.text) if match is not None and tr.text else None
            out = {
                "file": path,
                "text": tr.text,
                "intent": m.name if m is not None else None,
                "crisis": bool(m.crisis) if m is not None else False,
                "engine": engine,
                "audio_seconds": round(chunk.seconds, 3),
                "decode_seconds": round(decode, 3),
            }
        except VoicecoachError as exc:
            status = 1
            out = {"file": path, "error": str(exc)}
        if args.json:
            print(json.dumps(out, ensure_ascii=False), flush=True)
        elif "error" in out:
            print(f"{path}: error: {out['error']}", flush=True)
        else:
            extra = " CRISIS" if out["crisis"] else ""
            print(f"{path}: \"{out['text']}\" -> {out['intent'] or '(no intent)'}{extra} "
                  f"[{engine}, {out['decode_seconds']:.2f}s for {out['audio_seconds']:.2f}s]",
                  flush=True)
    if status:
        print("voicecoach: some files could not be transcribed", file=sys.stderr)
    return status

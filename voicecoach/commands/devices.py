"""``voicecoach devices``: the audio devices PortAudio sees (for ``output_device`` /
``input_device`` in config.yaml, by index or part of the name)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON array of devices")


def run(args: argparse.Namespace) -> int:
    from voicecoach.player import list_devices

    devices = list_devices()  # EngineUnavailable (no PortAudio) becomes a one-line error
    if args.json:
        print(json.dumps([asdict(d) | {"is_default": d.is_default} for d in devices], indent=2))
        return 0
    if not devices:
        print(
            "No audio devices found: PortAudio sees no sound card. The coach still works and "
            "prints what it would say. (In a container or CI, start PulseAudio: "
            "pulseaudio -D --exit-idle-time=-1 && pactl load-module module-null-sink sink_name=coach)"
        )
        return 0
    print(f"{'#':>3}  {'in':>3} {'out':>3}  {'rate':>6}  {'host API':<10} name")
    for d in devices:
        mark = "".join(["<" if d.is_default_input else " ", ">" if d.is_default_output else " "])
        print(
            f"{d.index:>3}{mark} {d.max_input_channels:>3} {d.max_output_channels:>3}  "
            f"{d.default_samplerate:>6.0f}  {d.hostapi:<10} {d.name}"
        )
    print("< default input, > default output. Set audio.input_device / voice.output_device in "
          "config.yaml to an index or part of a name.")
    return 0

#!/usr/bin/env python3
"""Run a live session's echo cancellation again, offline, on exactly what it was given.

`VOICECOACH_TRACE=FILE voicecoach listen ...` writes FILE.npz beside the trace: every microphone
chunk the echo path received with its session time, and the reference (what the speaker's stream
sent out, on the same clock) over the whole run. This replays them through a fresh
:class:`voicecoach.aec.EchoPath` and prints:

- the delay between reference and microphone, window by window (GCC-PHAT on the echo path's own
  microphone clock): a steady room gives one figure; a step is the two clocks disagreeing;
- how much of the coach's voice is left while it speaks (before ``--until`` seconds, so the
  person's words can be left out): the share of 30 ms frames above -50 dBFS and the 90th
  percentile of their level, and the echo path's delay estimates.

    scripts/replay_echo.py FILE.npz [--until 4.5] [--canceller auto] [--windows]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicecoach.aec import RATE, EchoPath, _Clock, array_reference, estimate_delay, make_canceller  # noqa: E402


def _db(x: np.ndarray) -> float:
    return float(20 * np.log10(max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-9) / 32768))


def load(path: Path) -> dict[str, np.ndarray]:
    try:
        z = np.load(path)
        return {k: z[k] for k in ("ref", "mic", "t", "n", "underflows")}
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"replay_echo: {path}: not a trace's echo input ({exc})") from None


def windows(d: dict[str, np.ndarray]) -> list[tuple[float, float, float]]:
    """(start s, delay ms, clarity) per 0.25 s step over 1 s windows where the coach spoke."""
    clock, starts = _Clock(), []
    for t, n in zip(d["t"], d["n"], strict=True):
        starts.append(clock.advance(int(n), float(t)))
    end = int((starts[-1] + d["n"][-1] / RATE) * RATE) + 1
    mic = np.zeros(end, np.int16)
    pos = 0
    for s, n in zip(starts, d["n"], strict=True):
        a = int(round(s * RATE))
        seg = d["mic"][pos : pos + n][: max(0, len(mic) - a)]
        mic[a : a + len(seg)] = seg
        pos += n
    out = []
    for w in np.arange(0.0, end / RATE - 1.0, 0.25):
        a = int(w * RATE)
        ref = d["ref"][a : a + RATE]
        if len(ref) < RATE or _db(ref) < -45.0:
            continue
        k, clarity = estimate_delay(ref, mic[a : a + RATE], RATE // 2)
        out.append((float(w), k * 1000.0 / RATE, clarity))
    return out


def replay(d: dict[str, np.ndarray], canceller: str, until: float) -> dict[str, object]:
    canc, _ = make_canceller(canceller)
    if canc is None:
        raise SystemExit("replay_echo: --canceller off cancels nothing")
    path = EchoPath(array_reference(d["ref"]), canc)
    outs, pos = [], 0
    for t, n in zip(d["t"], d["n"], strict=True):
        outs.append(path.process(d["mic"][pos : pos + n], float(t)))
        pos += n
    y = np.concatenate(outs)
    t0 = float(d["t"][0]) - int(d["n"][0]) / RATE
    hop = 480
    levels = []
    for i in range(len(y) // hop):
        t = t0 + i * hop / RATE
        a = int(t * RATE)
        if t >= until or a < RATE // 10 or _db(d["ref"][a - RATE // 10 : a]) < -45.0:
            continue
        levels.append(_db(y[i * hop : (i + 1) * hop]))
    lv = np.array(levels) if levels else np.zeros(1) - 120.0
    return {"frames": len(levels), "above_-50": float(np.mean(lv > -50.0)), "p90_db": float(np.percentile(lv, 90)),
            "delays_ms": [round(e * 1000, 1) for e in path.estimates]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("npz", type=Path)
    ap.add_argument("--until", type=float, default=float("inf"), help="leave out the run after this (s)")
    ap.add_argument("--canceller", default="auto")
    ap.add_argument("--windows", action="store_true", help="print the delay window by window")
    args = ap.parse_args(argv)
    d = load(args.npz)
    print(f"{args.npz}: {len(d['t'])} chunks, {len(d['ref']) / RATE:.1f} s, "
          f"{int(d['underflows'])} output underflows")
    if args.windows:
        for w, ms, clarity in windows(d):
            print(f"  {w:5.2f} s  delay {ms:6.1f} ms  clarity {clarity:5.1f}")
    r = replay(d, args.canceller, args.until)
    print(f"coach speaking: {r['frames']} frames of 30 ms, {r['above_-50']:.0%} above -50 dBFS after "
          f"cancellation, 90th percentile {r['p90_db']:.1f} dBFS; delays found {r['delays_ms']} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

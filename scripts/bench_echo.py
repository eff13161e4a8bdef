#!/usr/bin/env python3
"""Echo cancellation: the coach's voice in the microphone, louder than the person.

Every run is the live loop in virtual time (`LiveLoop`, the path `voicecoach listen --input ...
--fast --echo-gain-db DB --echo-delay-ms MS` takes): the coach starts box breathing, its played
audio comes back into the microphone through a simulated room (gain, delay, a short reverb), and
a person whose voice no test uses says "stop" at -12 dBFS (the loudest 30 ms of the word) while
the coach speaks.

- ERLE (echo return loss enhancement, dB): the echo's energy in the microphone over the energy
  left after cancellation, over the coach's first sentence with no one else talking.
- Barge-in success: the coach falls silent for at least 300 ms, starting within 400 ms of the end
  of the word; any acknowledgement after that is under 2 s; the session ends "stopped".
- Echo-to-speech ratio (ESR): the echo's loudest 30 ms at the microphone over the person's.
- False barge-ins per 10 minutes of the coach talking with no one else in the room.
- `--trace ESR:DELAY:TRY ...`: what happened in those tries, told (recognition, checks, levels).
- `--compare`: the same recordings through every canceller that loads (and LiveKit's WebRTC APM
  when `--livekit PATH` points at an installed `livekit` package).

Writes the "Echo cancellation" section of docs/benchmarks.md and docs/echo.png. Run from the
repository root:  .venv/bin/python scripts/bench_echo.py [--tries N] [--compare]
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecoach import aec  # noqa: E402
from voicecoach.audio import read_wav, to_asr  # noqa: E402
from voicecoach.room import RoomEcho  # noqa: E402

PERSON_DB = -12.0
VOICES = [("espeak", "en-gb-scotland"), ("flite", "slt"), ("espeak", "en-029+f4"), ("flite", "awb"),
          ("espeak", "en-us-nyc+m3")]
"""People's voices no test uses (the coach speaks with the default espeak voice)."""
ESRS = (-12, -6, 0, 6, 12)
DELAYS = (20, 60, 120, 200)
SCRIPT = "box-breathing"


def synth(engine: str, voice: str, text: str, tmp: Path) -> np.ndarray:
    raw = tmp / f"{engine}-{re.sub(r'[^a-z0-9]+', '_', voice + text)}.wav"
    if not raw.exists():
        if engine == "espeak":
            subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(raw), text], check=True)
        else:
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(raw)], check=True)
    x = to_asr(read_wav(raw)).samples.astype(np.float64)
    loud = np.flatnonzero(np.abs(x) > 300)
    x = x[loud[0] : loud[-1] + 1]
    return scale_to(x, PERSON_DB)


def frames_db(x: np.ndarray, n: int = 480) -> np.ndarray:
    m = len(x) // n
    r = np.sqrt(np.mean(x[: m * n].astype(np.float64).reshape(m, n) ** 2, axis=1))
    return 20 * np.log10(np.maximum(r, 1e-9) / 32768.0)


def scale_to(x: np.ndarray, db: float) -> np.ndarray:
    peak = frames_db(x).max()
    return np.clip(np.round(x * 10 ** ((db - peak) / 20)), -32768, 32767).astype(np.int16)


class Rig:
    """The real coach, voice, recogniser and intents; a file microphone; virtual time."""

    def __init__(self, engine: str = "pocketsphinx", jitter_ms: float = 0.0, drift_ppm: float = 0.0,
                 step_ms: float = 0.0, step_every: float = 3.0) -> None:
        from voicecoach.asr import load_speech
        from voicecoach.commands._common import make_voice
        from voicecoach.config import load_config
        from voicecoach.scripts import Library

        self.config = load_config()
        self.library = Library.load(self.config.home)
        self.voice = make_voice(self.config, quiet=True)
        self.speech = load_speech(self.config, engine=engine)
        self.jitter = jitter_ms / 1000
        """Each microphone chunk's time stamp moved by up to this much either way (s), as a
        stream's ADC times are: virtual time's stamps are otherwise exact."""
        self.drift = drift_ppm
        """The room's clock against the speaker's (ppm): the echo comes this much later every second."""
        self.step = (step_ms, step_every)
        """The room's delay grows by step_ms at once every step_every s (a loopback's corrections)."""

    def loop(self, placements, kind: str, room, canceller=None):
        from voicecoach.live import LiveLoop
        from voicecoach.mic import FileMic
        from voicecoach.session import make_coach

        coach = make_coach(self.config, self.library, self.voice, journal=None, answer_timeout=25, home=False)
        if room is not None and (self.drift or self.step[0]):
            room = (room[0], room[1], True, self.drift, *self.step)
        loop = LiveLoop(coach, self.voice, self.speech, FileMic(placements, realtime=False),
                        echo_cancel="off" if canceller is not None else kind, room=room)
        if canceller is not None:
            loop.echo = aec.EchoPath(loop.player.window, canceller)
        if self.jitter and loop.echo is not None:
            rng, process = np.random.default_rng(len(placements)), loop.echo.process
            loop.echo.process = lambda x, t: process(x, t + rng.uniform(-self.jitter, self.jitter))
        return loop

    def coach_audio(self, seconds: float = 12.0) -> np.ndarray:
        loop = self.loop([], "off", None)
        loop.run(loop.coach.begin(0.0, SCRIPT), max_seconds=seconds)
        return loop.player.mix(seconds)


def barge(rig: Rig, kind: str, gain_db: float, delay_ms: float, word: np.ndarray, at: float,
          canceller=None) -> dict:
    from voicecoach.mic import Placement

    loop = rig.loop([Placement(Path("stop"), at, audio=word)], kind, (gain_db, delay_ms), canceller)
    loop.run(loop.coach.begin(0.0, SCRIPT), max_seconds=at + 6)
    end = at + len(word) / 16000
    hush = next((h for h in loop.hushes if h >= at - 0.05), None)
    early = [h for h in loop.hushes if h < at - 0.05]
    after = [p for p in loop.player.played if hush is not None and p.start >= hush]
    ok = (hush is not None and not early and hush - end <= 0.4
          and (not after or after[0].start - hush >= 0.3)
          and all(p.end - p.start < 2.0 for p in after) and len(after) <= 1
          and any(s == "stopped" for _, s in loop.coach.ended))
    return {"ok": ok, "delay": None if hush is None else hush - end, "false": len(early)}


def trace(rig: Rig, gain_db: float, delay_ms: float, word: np.ndarray, at: float) -> list[str]:
    """One barge-in try, told: the recogniser's partial and final results around the word, each
    barge-in check that refused, the person's frames over the coach, and per 30 ms the person's
    word, the microphone, the canceller's output and (from the same run without the person) the
    residual echo, on the microphone's clock."""
    from voicecoach.ear import SURE
    from voicecoach.mic import Placement

    def run(w: np.ndarray):
        loop = rig.loop([Placement(Path("stop"), at, audio=w)], "webrtc", (gain_db, delay_ms))
        log: list[tuple[float, str]] = []
        mic, out = [], []
        is_barge, check, on_heard = loop._is_barge, loop.ear._check_partial, loop._on_heard

        def mic_in_(x, t):
            mic.append(loop.room.add(x, t))
            out.append(loop.echo.process(mic[-1], t))
            return out[-1]

        def is_barge_(text, t0, t1):
            ok, m = is_barge(text, t0, t1), loop._match(text)
            why = ("no intent" if m is None or m.name not in loop._barge_in else
                   f"confidence {m.confidence:.2f}" if m.confidence < SURE else
                   "own words" if loop.is_echo(text, t0, t1) else "")
            log.append((loop.now(), f"  barge-in {text!r}: {'proposed' if ok else 'refused: ' + why}"))
            return ok

        def check_(t):
            p = loop.ear.rec.partial().text
            h = check(t)
            if p and (not log or not log[-1][1].startswith(f"partial {p!r}")):
                log.append((t, f"partial {p!r} (person frames {loop.ear._person + loop.ear._lead})"
                            + (" → acted on" if h is not None and h.barge else "")))
            return h

        def on_heard_(h):
            n = len(loop.ignored)
            on_heard(h)
            if h.final:
                log.append((loop.now(), f"final {h.text!r} (person frames {h.person})"
                            + (" → ignored as the coach's voice" if len(loop.ignored) > n else "")))

        loop._mic_in, loop._is_barge, loop.ear.is_barge = mic_in_, is_barge_, is_barge_
        loop.ear._check_partial, loop._on_heard = check_, on_heard_
        loop.run(loop.coach.begin(0.0, SCRIPT), max_seconds=at + 6)
        return loop, log, np.concatenate(mic), np.concatenate(out)

    _, _, _, residual = run(np.zeros_like(word))
    loop, log, mic, out = run(word)
    end = at + len(word) / 16000
    hush = next((h for h in loop.hushes if h >= at - 0.05), None)
    lines = [f"word {at:.2f}-{end:.2f} s; silence from {'never' if hush is None else f'{hush - end:+.2f} s'} "
             f"after its end; session {[s for _, s in loop.coach.ended]}"]
    lines += [f"{t:6.2f} {text}" for t, text in sorted(log) if at - 0.5 <= t <= end + 1.5]
    lag = aec.LOOKBACK * aec.FRAME + (aec.SPLIT_TAPS - 1) // 2
    lines.append("  time  person    mic  output  residual echo (dBFS, 30 ms)")
    i0 = int(at * 16000)
    for k in range(-2, len(word) // 480 + 3):
        a = i0 + k * 480
        w = word[k * 480 : (k + 1) * 480] if 0 <= k * 480 < len(word) - 479 else np.zeros(480)
        cols = [frames_db(x)[0] if len(x) == 480 else -120.0
                for x in (w, mic[a : a + 480], out[a + lag : a + lag + 480], residual[a + lag : a + lag + 480])]
        lines.append(f"  {a / 16000:5.2f} " + " ".join(f"{c:7.1f}" for c in cols))
    return lines


def erle(echo_mic: np.ndarray, out: np.ndarray, start: float = 1.0) -> float:
    """ERLE over the frames where the echo is audible, after ``start`` seconds of convergence."""
    a, b = frames_db(echo_mic), frames_db(out)
    n = min(len(a), len(b))
    i0 = int(start * 16000 / 480)
    keep = np.arange(n) >= i0
    keep &= a[:n] > -50
    e_in = np.sum(10 ** (a[:n][keep] / 10))
    e_out = np.sum(10 ** (b[:n][keep] / 10))
    return float(10 * np.log10(e_in / max(e_out, 1e-30)))


def run_erle(coach: np.ndarray, canceller, gain_db: float, delay_ms: float) -> tuple[float, float | None]:
    ref = aec.array_reference(coach)
    room = RoomEcho(ref, gain_db, delay_ms)
    mic = np.concatenate([room.add(np.zeros(480, np.int16), (k + 1) * 0.03) for k in range(len(coach) // 480)])
    if canceller is None:
        return 0.0, None
    path = aec.EchoPath(ref, canceller)
    out = np.concatenate([path.process(mic[k : k + 480], (k + 480) / 16000) for k in range(0, len(mic), 480)])
    return erle(mic, out), path.delay


class LiveKitCanceller:
    """LiveKit's WebRTC audio processing module (rtc.AudioProcessingModule), for comparison."""

    name = "livekit"

    def __init__(self) -> None:
        from livekit import rtc

        self.rtc = rtc
        self.apm = rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True)
        self.apm.set_stream_delay_ms(0)

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(near) - aec.FRAME + 1, aec.FRAME):
            f = self.rtc.AudioFrame(far[i : i + aec.FRAME].astype(np.int16).tobytes(), 16000, 1, aec.FRAME)
            self.apm.process_reverse_stream(f)
            n = self.rtc.AudioFrame(near[i : i + aec.FRAME].astype(np.int16).tobytes(), 16000, 1, aec.FRAME)
            self.apm.set_stream_delay_ms(0)
            self.apm.process_stream(n)
            out.append(np.frombuffer(bytes(n.data), np.int16))
        return np.concatenate(out) if out else np.zeros(0, np.int16)


def words_for(tmp: Path) -> list[np.ndarray]:
    return [synth(e, v, "stop", tmp) for e, v in VOICES]


def compare(rig: Rig, tries: int, livekit: str | None, tmp: Path) -> list[str]:
    makers = {"webrtc": aec.WebRtcCanceller, "speex": aec.SpeexCanceller, "nlms": aec.NlmsCanceller}
    if livekit:
        sys.path.insert(0, livekit)
        makers["livekit"] = LiveKitCanceller
    coach = rig.coach_audio()
    level0 = float(frames_db(RoomEcho(aec.array_reference(coach), 0.0, 60).add(
        np.zeros(len(coach), np.int16), len(coach) / 16000)).max())
    stops = words_for(tmp)
    lines = ["| canceller | ERLE 20 ms | ERLE 60 ms | ERLE 200 ms | delay found (60 ms) | "
             "barge-in ESR 0 dB | +6 dB | +12 dB | ms of CPU per s of audio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in ["off", *makers]:
        row = [name]
        found = "–"
        cpu = "–"
        for d in (20, 60, 200):
            if name == "off":
                row.append("0")
                continue
            try:
                c = makers[name]()
            except Exception as exc:  # noqa: BLE001 - a candidate that does not load is reported
                row.append(f"did not load: {exc}")
                break
            t = time.process_time()
            e, found_d = run_erle(coach, c, 0.0, d)
            if d == 60:
                cpu = f"{(time.process_time() - t) / (len(coach) / 16000) * 1000:.1f}"
                found = "none" if found_d is None else f"{found_d * 1000:.0f} ms"
            row.append(f"{e:.1f}")
        else:
            for esr in (0, 6, 12):
                gain = esr + PERSON_DB - level0
                ok = 0
                for i in range(tries):
                    c = None if name in ("off", "webrtc", "speex", "nlms") else makers[name]()
                    kind = name if name in ("off", "webrtc", "speex", "nlms") else "off"
                    r = barge(rig, kind, gain, 60, stops[i % len(stops)], 2.0 + 0.37 * (i % 7), c)
                    ok += r["ok"]
                row.append(f"{ok}/{tries}")
            row += [found, cpu]
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
            continue
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    return lines


def grid(rig: Rig, tries: int, tmp: Path, esrs=ESRS, delays=DELAYS, kinds=("webrtc", "off")) -> tuple[list[str], dict]:
    coach = rig.coach_audio()
    level0 = float(frames_db(RoomEcho(aec.array_reference(coach), 0.0, 60).add(
        np.zeros(len(coach), np.int16), len(coach) / 16000)).max())
    stops = words_for(tmp)
    results: dict = {}
    fam: dict = {}
    for kind in kinds:
        for esr in esrs:
            for d in delays:
                # The person at PERSON_DB; where that would push the echo past 0 dB gain (and
                # the microphone into clipping), the echo stays at 0 dB and the person is softer.
                gain = min(esr + PERSON_DB - level0, 0.0)
                person = level0 + gain - esr
                ok = 0
                lat = []
                for i in range(tries):
                    word = np.round(stops[i % len(stops)] * 10 ** ((person - PERSON_DB) / 20)).astype(np.int16)
                    r = barge(rig, kind, gain, d, word, 2.0 + 0.37 * (i % 7))
                    ok += r["ok"]
                    f = fam.setdefault((kind, esr, VOICES[i % len(VOICES)][0]), [0, 0])
                    f[0] += r["ok"]
                    f[1] += 1
                    if r["delay"] is not None:
                        lat.append(r["delay"])
                e = run_erle(coach, aec.WebRtcCanceller(), gain, d)[0] if kind == "webrtc" else 0.0
                results[(kind, esr, d)] = (ok, e, float(np.median(lat)) if lat else None)
                print(kind, esr, d, results[(kind, esr, d)], flush=True)
    lines = [f"Echo at the microphone with `--echo-gain-db 0`: {level0:.1f} dBFS (loudest 30 ms), so "
             f"the person at {PERSON_DB:.0f} dBFS is {level0 - PERSON_DB:+.1f} dB below it (ESR). Positive "
             "ESRs keep the echo at 0 dB gain and make the person softer (a louder echo would clip).", "",
             "| ESR (dB) | delay (ms) | ERLE (dB) | barge-in with AEC | without | median end of word → silence, with AEC |",
             "|---|---|---|---|---|---|"]
    for esr in esrs:
        for d in delays:
            ok, e, lat = results[("webrtc", esr, d)]
            off = f"{results[('off', esr, d)][0]}/{tries}" if ("off", esr, d) in results else "not run"
            lines.append(f"| {esr:+d} | {d} | {e:.1f} | {ok}/{tries} | {off} | "
                         f"{'–' if lat is None else f'{lat * 1000:.0f} ms'} |")
    lines += ["", "By the person's voice family, with AEC, all delays (flite is held out: no rule or "
              "threshold was chosen by looking at it):", "", "| ESR (dB) | espeak | flite |", "|---|---|---|"]
    for esr in esrs:
        cells = [f"{fam[k][0]}/{fam[k][1]}" if (k := ("webrtc", esr, v)) in fam else "–" for v in ("espeak", "flite")]
        lines.append(f"| {esr:+d} | {' | '.join(cells)} |")
    return lines, results


def false_barge(rig: Rig, kind: str, minutes: float) -> tuple[float, int, int]:
    """Coach talking with its echo (0 dB, delays 20-200 ms) and no one else: seconds of coach speech, times
    it stopped itself, utterances acted on (not ignored as its own voice)."""
    talk, false, acted = 0.0, 0, 0
    scripts = ("box-breathing", "bedtime", "grounding-54321", "body-scan")
    for k in range(40):
        if talk >= minutes * 60:
            break
        # Each round of the scripts at the next delay (a repeat at the same one would be the
        # same run: virtual time is deterministic).
        loop = rig.loop([], kind, (0.0, float(DELAYS[(k // len(scripts)) % len(DELAYS)])))
        try:
            first = loop.coach.begin(0.0, scripts[k % len(scripts)])
        except Exception:  # noqa: BLE001 - a script id this version does not have
            continue
        loop.run(first, max_seconds=300)
        talk += sum(p.end - p.start for p in loop.player.played)
        false += len(loop.hushes)
        acted += sum(1 for h in loop.heard if h.final and h.text not in loop.ignored)
    return talk, false, acted


def goes_on(rig: Rig, seconds: float = 40.0) -> dict:
    """Seconds the coach talks over the first ``seconds`` of box breathing, without echo and
    with its echo at 0 dB / 60 ms (AEC on), no one else talking; and whether it stopped itself."""
    out = {}
    for room in (None, (0.0, 60.0)):
        loop = rig.loop([], "webrtc", room)
        loop.run(loop.coach.begin(0.0, SCRIPT), max_seconds=seconds)
        out[room] = (sum(min(p.end, seconds) - p.start for p in loop.player.played if p.start < seconds),
                     len(loop.hushes))
    return out


def plot(results: dict, tries: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for d in DELAYS:
        ax[0].plot(ESRS, [results[("webrtc", e, d)][0] / tries * 100 for e in ESRS], "o-", label=f"AEC, {d} ms")
        ax[0].plot(ESRS, [results[("off", e, d)][0] / tries * 100 for e in ESRS], "x--", label=f"no AEC, {d} ms")
        ax[1].plot(ESRS, [results[("webrtc", e, d)][1] for e in ESRS], "o-", label=f"{d} ms")
    ax[0].set(xlabel="echo-to-speech ratio (dB)", ylabel="barge-in success (%)", ylim=(-5, 105))
    ax[1].set(xlabel="echo-to-speech ratio (dB)", ylabel="ERLE (dB)")
    ax[0].legend(fontsize=7)
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def write_section(body: list[str]) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text(encoding="utf-8")
    head = "## Echo cancellation"
    section = "\n".join([head, "", *body]).rstrip() + "\n"
    if head in text:
        start = text.index(head)
        nxt = text.find("\n## ", start + len(head))
        text = text[:start] + section + ("\n" + text[nxt + 1 :] if nxt >= 0 else "")
    else:
        text = text.rstrip() + "\n\n" + section
    doc.write_text(text, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", default="pocketsphinx",
                    help="speech engine: pocketsphinx (the figures below), auto (whisper confirms), vosk")
    ap.add_argument("--tries", type=int, default=5, help="tries per cell (each a different voice/moment)")
    ap.add_argument("--compare", action="store_true", help="compare the cancellers instead of the grid")
    ap.add_argument("--livekit", metavar="PATH", help="a directory holding the livekit package, to compare")
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of coach talk for false barge-ins")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--stamp-jitter-ms", type=float, default=0.0,
                    help="move each microphone chunk's time stamp by up to this much either way")
    ap.add_argument("--drift-ppm", type=float, default=0.0,
                    help="the room's clock drifts this much from the speaker's (the echo later every second)")
    ap.add_argument("--delay-step-ms", type=float, default=0.0,
                    help="the room's delay grows by this much at once every --step-every seconds")
    ap.add_argument("--step-every", type=float, default=3.0)
    ap.add_argument("--esrs", type=int, nargs="+", default=list(ESRS), help="echo-to-speech ratios (a partial grid)")
    ap.add_argument("--delays", type=int, nargs="+", default=list(DELAYS), help="delays in ms (a partial grid)")
    ap.add_argument("--aec-only", action="store_true", help="skip the runs without echo cancellation")
    ap.add_argument("--no-false", action="store_true", help="skip the false barge-in and goes-on runs")
    ap.add_argument("--trace", metavar="ESR:DELAY:TRY", nargs="+",
                    help="tell what happened in these tries of the grid (e.g. 6:120:4) and stop")
    args = ap.parse_args()
    rig = Rig(args.engine, args.stamp_jitter_ms, args.drift_ppm, args.delay_step_ms, args.step_every)
    t = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.trace:
            coach = rig.coach_audio()
            level0 = float(frames_db(RoomEcho(aec.array_reference(coach), 0.0, 60).add(
                np.zeros(len(coach), np.int16), len(coach) / 16000)).max())
            stops = words_for(tmp)
            for spec in args.trace:
                esr, d, i = (float(v) for v in spec.split(":"))
                gain = min(esr + PERSON_DB - level0, 0.0)
                w = stops[int(i) % len(stops)]
                w = np.round(w * 10 ** ((level0 + gain - esr - PERSON_DB) / 20)).astype(np.int16)
                print(f"== ESR {esr:+g} dB, delay {d:g} ms, try {int(i)} ({' '.join(VOICES[int(i) % len(VOICES)])})")
                print("\n".join(trace(rig, gain, d, w, 2.0 + 0.37 * (int(i) % 7))))
            return 0
        if args.compare:
            lines = compare(rig, args.tries, args.livekit, tmp)
            print("\n".join(lines))
            return 0
        kinds = ("webrtc",) if args.aec_only else ("webrtc", "off")
        body, results = grid(rig, args.tries, tmp, tuple(args.esrs), tuple(args.delays), kinds)
    full = tuple(args.esrs) == ESRS and tuple(args.delays) == DELAYS and not args.aec_only
    if args.no_false:
        print("\n".join(body))
        return 0
    fb = {k: false_barge(rig, k, args.minutes) for k in kinds}
    go = goes_on(rig)
    if not args.no_write and full:
        plot(results, args.tries, ROOT / "docs" / "echo.png")
    host = f"{platform.machine()}, {__import__('os').cpu_count()} cores"
    intro = [f"`scripts/bench_echo.py {' '.join(sys.argv[1:]) or '--tries 5'}` ({host}; {time.monotonic() - t:.0f} s). "
             f"The live loop in virtual time with the {args.engine} engine, box breathing, a simulated room "
             "(`--echo-gain-db`, `--echo-delay-ms`, 80 ms reverb); \"stop\" at -12 dBFS in voices "
             "no test uses; success = silence ≥ 300 ms from within 400 ms of the end of the word, "
             "acknowledgement < 2 s, session stopped.", ""]
    tail = ["", "![barge-in success and ERLE over ESR](echo.png)", "",
            "False barge-ins (the coach talking, its echo at 0 dB with 20, 60, 120 and 200 ms delays in turn, "
            "no one else):", "",
            "| | coach talking | stopped itself | per 10 min | utterances acted on |", "|---|---|---|---|---|"]
    for k, (talk, false, acted) in fb.items():
        tail.append(f"| {'AEC (webrtc)' if k == 'webrtc' else 'no AEC'} | {talk / 60:.1f} min | {false} | "
                    f"{false / max(talk, 1) * 600:.1f} | {acted} |")
    (plain, _), (echoed, stops) = go[None], go[(0.0, 60.0)]
    tail += ["", f"With no \"stop\": over the first 40 s of box breathing the coach talks {plain:.1f} s without "
             f"echo and {echoed:.1f} s with its echo at 0 dB / 60 ms ({(echoed - plain) / plain * 100:+.1f}%; "
             f"target within 10%), stopping itself {stops} times."]
    print("\n".join(intro + body + tail))
    if not args.no_write:
        write_section(intro + body + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main())

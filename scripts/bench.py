#!/usr/bin/env python3
"""The one benchmark: prints a table and writes docs/benchmarks.md.

    .venv/bin/python scripts/bench.py            # quick: a few minutes
    .venv/bin/python scripts/bench.py --long     # adds the 10-minute live timing + soak run
    .venv/bin/python scripts/bench.py --runs 5 --out /tmp/b.md

What it measures (medians of several runs; each run in a fresh process where memory matters):

1. Speech recognition, per engine and mode: model load time, real-time factor (decode time / audio
   time, fed in 100 ms chunks as the live loop does) and peak memory, beside the raw engine library
   called directly on the same audio in the same run, so voicecoach's overhead is a ratio.
2. Intent matcher throughput (utterances per second, crisis screen included).
3. Single parts beside floors measured in the same run (``scripts/bench_units.py``): the sentence
   encoder, the intent matcher's load, a journal write, a cached voice cue.
4. End of speech -> first sound of the reply through ``voicecoach listen --input`` at real-time pace
   (``scripts/bench_live.py`` when it is there: ten-plus requests and stop -> silence).
5. Live cue timing: box breathing through the real RealtimeRunner, voice and coach on the real
   monotonic clock, into a RecordingPlayer; the error of every breathing cue against its scheduled
   t0 + n seconds (median, p95, max) and the drift over the run; RSS over the run (the soak).
6. Start-up: ``voicecoach --help``, and ``voicecoach listen`` until it is ready.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
DEMO = ROOT / "voicecoach" / "data" / "demo"
SENTENCES = [
    "my partner did not answer my message for three hours",
    "i felt scared that they were angry with me",
    "a kinder way to see it is that they were tired after work",
    "help me breathe",
    "i can't sleep",
    "ground me",
]
INTENT_TEXTS = [
    "I'm anxious", "help me breathe", "can we do the four seven eight breathing", "ground me",
    "I can't sleep", "help me reframe this thought", "stop", "pause", "next", "tell me more", "yes",
    "no", "seven out of ten", "about 70 percent", "I want to text him again",
    "he hasn't replied in hours and I'm spiralling", "I want to kill myself", "what's the point",
    "my phone is dying", "I nearly died laughing", "um so basically I'm really wound up today",
    "give me ten minutes", "I feel like everyone would be better off without me", "slower please",
]


# ---------------------------------------------------------------------------------------------
# helpers


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(*args: str, timeout: float = 1800) -> dict:
    """Run this script as a child (``--child ...``) and return its JSON."""
    r = subprocess.run([PY, __file__, "--child", *args], capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, VOICECOACH_HOME=HOME))
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "commit": commit,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


# ---------------------------------------------------------------------------------------------
# children: each runs in its own process and prints one JSON line


def _audio_set(tmp: str) -> list:
    """16 kHz mono int16 arrays: the bundled demo requests and sentences spoken by espeak-ng."""
    from voicecoach.audio import read_wav, to_asr

    clips = [to_asr(read_wav(p)).samples for p in sorted(DEMO.glob("*.wav"))]
    for i, text in enumerate(SENTENCES):
        out = Path(tmp) / f"s{i}.wav"
        r = subprocess.run(["espeak-ng", "-s", "150", "-w", str(out), text], capture_output=True)
        if r.returncode == 0:
            clips.append(to_asr(read_wav(out)).samples)
    return clips


def child_asr(engine: str, mode: str, passes: int) -> dict:
    import numpy as np

    from voicecoach.types import AudioChunk

    with tempfile.TemporaryDirectory() as tmp:
        clips = _audio_set(tmp)
    audio_s = sum(len(c) for c in clips) / 16000
    base = rss_mb()
    t0 = time.perf_counter()
    if engine.startswith("raw-"):
        decode = _raw(engine[4:])
    else:
        from voicecoach.asr import load_speech
        from voicecoach.config import load_config

        speech = load_speech(load_config(), engine=engine)
        used = speech.engine_for(mode)

        def decode(x):
            rec = speech.recognizer(mode)
            rec.start()
            for i in range(0, len(x), 1600):
                rec.accept(AudioChunk(16000, x[i:i + 1600]))
                rec.partial()
            return rec.finish().text
    load_s = time.perf_counter() - t0
    decode(clips[0])  # warm-up
    times, texts = [], []
    for _ in range(passes):
        t = time.perf_counter()
        texts = [decode(np.ascontiguousarray(c)) for c in clips]
        times.append(time.perf_counter() - t)
    return {"engine": engine, "mode": mode, "used": used if not engine.startswith("raw-") else engine,
            "load_s": load_s, "rtf": median(times) / audio_s, "audio_s": audio_s,
            "peak_mb": peak_mb(), "model_mb": peak_mb() - base, "sample": texts[: len(clips)]}


def _raw(name: str):
    """The engine library called directly, the way its own documentation shows."""
    if name == "pocketsphinx":
        from pocketsphinx import Decoder, get_model_path

        d = os.path.join(get_model_path(), "en-us")
        dec = Decoder(hmm=os.path.join(d, "en-us"), lm=os.path.join(d, "en-us.lm.bin"),
                      dict=os.path.join(d, "cmudict-en-us.dict"), loglevel="FATAL")

        def decode(x):
            dec.start_utt()
            dec.process_raw(x.tobytes(), full_utt=True)
            dec.end_utt()
            return dec.hyp().hypstr if dec.hyp() else ""
        return decode
    if name == "whisper":
        from faster_whisper import WhisperModel

        from voicecoach.asr.whisper_engine import BEAM_SIZE, DOMAIN_PROMPT, find_model
        from voicecoach.config import load_config

        model = WhisperModel(str(find_model(load_config())), device="cpu", compute_type="int8",
                             cpu_threads=min(4, os.cpu_count() or 1))

        def decode(x):
            # The same decoding settings voicecoach uses, so the ratio is its overhead alone.
            segs, _ = model.transcribe(x.astype("float32") / 32768.0, language="en", beam_size=BEAM_SIZE,
                                       temperature=0.0, without_timestamps=True, condition_on_previous_text=False,
                                       initial_prompt=DOMAIN_PROMPT, vad_filter=False)
            return " ".join(s.text for s in segs).strip()
        return decode
    raise SystemExit(f"no raw decoder for {name}")


def child_intents(runs: int) -> dict:
    t = time.perf_counter()
    from voicecoach.intents import load_matcher

    m = load_matcher(None)
    load_s = time.perf_counter() - t
    texts = INTENT_TEXTS * 10
    rates = []
    for _ in range(runs):
        t = time.perf_counter()
        for s in texts:
            m.match(s)
        rates.append(len(texts) / (time.perf_counter() - t))
    return {"load_s": load_s, "per_s": median(rates), "ms_each": 1000 / median(rates)}


def child_live(seconds: float) -> dict:
    """Box breathing through the real runner on the real clock, cues into a RecordingPlayer."""
    from voicecoach.commands._common import config_and_library, make_voice
    from voicecoach.player import RecordingPlayer
    from voicecoach.session import Printer, RealtimeRunner, make_coach, open_journal

    config, library = config_and_library()
    voice = make_voice(config, quiet=True)
    journal = open_journal(config)
    coach = make_coach(config, library, voice, journal=journal, answer_timeout=config.dialogue.answer_timeout)
    player = RecordingPlayer()
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sampler():
        while not stop.wait(5.0):
            samples.append((time.monotonic(), rss_mb()))

    cycles = max(1, int(round(seconds / 16)))
    with open(os.devnull, "w") as devnull:
        runner = RealtimeRunner(coach, voice, player, Printer(devnull))
        threading.Thread(target=sampler, daemon=True).start()
        first = coach.begin(runner.now(), "box-breathing", {"cycles": cycles, "rate_anxiety": False})
        runner.run(first, stop_when_idle=True)
    stop.set()
    voice.close()
    if journal is not None:
        journal.close()
    errs = []
    for (_, cue), p in zip(runner.played, player.played, strict=True):
        if cue.phase is None:
            continue
        err = p.start - (runner.t0 + cue.t)  # the player's own timestamp vs the scheduled beat
        errs.append(err * 1000)
    n = len(errs)
    k = max(1, n // 10)
    first, last = median(errs[:k]), median(errs[-k:])
    t_begin = runner.t0
    warm = [m for t, m in samples if t - t_begin >= min(60.0, seconds / 3)]
    return {"seconds": (runner.played[-1][1].t if runner.played else 0), "cues": n,
            "median_ms": median(errs), "p95_ms": pct(errs, 95), "max_ms": max(errs) if errs else None,
            "min_ms": min(errs) if errs else None,
            "first_tenth_ms": first, "last_tenth_ms": last,
            "drift_ms": (last - first) if errs else None, "voice": getattr(voice, "name", "?"),
            "rss_start_mb": warm[0] if warm else None, "rss_end_mb": warm[-1] if warm else None}


# ---------------------------------------------------------------------------------------------
# measurements run from the parent


def listen_latency(runs: int) -> dict:
    """End of speech -> first sound of the reply, via ``listen --input FILE@0.5`` in real time."""
    import numpy as np

    from voicecoach.audio import read_wav

    out = {}
    if not (ROOT / "voicecoach" / "commands" / "listen.py").exists():
        return {"error": "voicecoach listen --input is not there yet: not measured"}
    for name in ("help-me-breathe", "ground-me"):
        wav = DEMO / f"{name}.wav"
        if not wav.exists():
            continue
        x = read_wav(wav)
        mono = x.samples if x.samples.ndim == 1 else x.samples.mean(axis=1)
        loud = np.flatnonzero(np.abs(mono.astype(np.int32)) > 328)  # -40 dBFS
        end_of_speech = 0.5 + loud[-1] / x.rate
        lat = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                reply = Path(tmp) / "reply.wav"
                r = subprocess.run([PY, "-m", "voicecoach", "listen", "--input", f"{wav}@0.5", "--mute",
                                    "--max-seconds", f"{end_of_speech + 5:.1f}", "--output-wav", str(reply)],
                                   capture_output=True, text=True, timeout=120,
                                   env=dict(os.environ, VOICECOACH_HOME=tmp))
                if r.returncode != 0 or not reply.exists():
                    lat.append(None)
                    continue
                y = read_wav(reply)
                ys = np.abs((y.samples if y.samples.ndim == 1 else y.samples.mean(axis=1)).astype(np.int32))
                after = np.flatnonzero(ys[int(end_of_speech * y.rate):] > 328)
                lat.append(after[0] / y.rate * 1000 if after.size else None)
        out[name] = lat
    return out


def startup(runs: int) -> dict:
    helps = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run([PY, "-m", "voicecoach", "--help"], capture_output=True, timeout=60)
        helps.append(time.perf_counter() - t if r.returncode == 0 and b"usage" in r.stdout else None)
    ready = []
    wav = DEMO / "help-me-breathe.wav"
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            p = subprocess.Popen([PY, "-m", "voicecoach", "listen", "--input", f"{wav}@30", "--mute",
                                  "--max-seconds", "31"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, env=dict(os.environ, VOICECOACH_HOME=tmp))
            got = None
            for line in p.stdout:
                if "Before we begin" in line or "listening" in line:
                    got = time.perf_counter() - t
                    break
            p.kill()
            p.wait()
            ready.append(got)
    return {"help_s": median(helps), "listen_ready_s": median(ready)}


# ---------------------------------------------------------------------------------------------
# report


def fmt(x, unit="", digits=2):
    if x is None:
        return "—"
    return f"{x:.{digits}f}{unit}"


def build_report(res: dict, args) -> str:
    m = res["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `scripts/bench.py" + (" --long" if args.long else "") + f"` ({args.runs} runs each; medians).",
        "Speed targets live here, not in the tests: the machines are shared and noisy.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['os']}; commit {m['commit']}; "
        f"{m['date']}.",
        "",
        "## Speech recognition",
        "",
        "Audio: the bundled demo requests plus six sentences spoken by espeak-ng "
        f"({fmt(res.get('audio_s'), ' s', 1)} in all), fed in 100 ms chunks; {res['asr_runs'][0]} processes "
        f"x {res['asr_runs'][1]} passes each (medians). RTF = decode time / audio time. "
        "voicecoach's load time includes what `load_speech` loads besides the model (the intent matcher "
        "for the phrase list; for whisper, pocketsphinx as the request-mode cross-check). "
        "Peak = the process's peak RSS; model = peak minus RSS before loading. The raw rows call the engine "
        "library directly on the same audio; the ratio is voicecoach / raw.",
        "",
        "| engine (mode) | decodes with | load s | RTF | peak MB | model MB | RTF ratio to raw |",
        "|---|---|---|---|---|---|---|",
    ]
    raw = {r["engine"][4:]: r for r in res["asr"] if r.get("engine", "").startswith("raw-") and "error" not in r}
    for r in res["asr"]:
        if "error" in r:
            lines.append(f"| {r['label']} | not measured: {r['error']} | | | | | |")
            continue
        base = raw.get(r["used"].split("+")[0]) if not r["engine"].startswith("raw-") else None
        ratio = f"{r['rtf'] / base['rtf']:.2f}" if base and r["mode"] == "dictation" else ""
        lines.append(f"| {r['label']} | {r['used']} | {fmt(r['load_s'])} | {fmt(r['rtf'], '', 3)} | "
                     f"{fmt(r['peak_mb'], '', 0)} | {fmt(r['model_mb'], '', 0)} | {ratio} |")
    lines += ["", "vosk: not measured (no English Vosk model is installed on this machine; the Korean test "
              "model is for the tests only).", ""]
    it = res["intents"]
    lines += ["## Intent matcher", "",
              f"{fmt(it.get('per_s'), '', 0)} utterances/s ({fmt(it.get('ms_each'), ' ms', 2)} each, crisis screen "
              f"included); loading the matcher takes {fmt(it.get('load_s'), ' s')}.", ""]
    units = res.get("units")
    if units:
        lines += ["## Parts, each beside a floor", "", units, ""]
    lines += ["## End of speech → reply (listen --input, real time)", ""]
    lat = res["latency"]
    if "folded" in lat:
        body = [ln for ln in lat["folded"].splitlines() if not ln.startswith("# ")]
        lines += ["From `scripts/bench_live.py`, run by this command:", ""] + body
    elif "error" in lat:
        lines.append(lat["error"])
    else:
        lines += ["| request | runs (ms) | median ms |", "|---|---|---|"]
        for name, xs in lat.items():
            lines.append(f"| {name} | {', '.join(fmt(x, '', 0) for x in xs)} | {fmt(median(xs), '', 0)} |")
        lines += ["", "From the last loud sample (-40 dBFS) of the request to the first loud sample of the reply "
                  "in `--output-wav`, both on the input clock."]
    lines.append("")
    for key, title in (("live", "Live cue timing (box breathing, real monotonic clock)"),
                       ("live_long", "Live cue timing and soak, 10 minutes (--long)")):
        lv = res.get(key)
        if not lv:
            continue
        lines += [f"## {title}", ""]
        if "error" in lv:
            lines += [f"not measured: {lv['error']}", ""]
            continue
        lines += [
            f"{lv['cues']} breathing cues over {fmt(lv['seconds'], ' s', 0)} ({lv['voice']} voice, RecordingPlayer "
            "timestamps against the scheduled t0 + n s):",
            "",
            "| median | p95 | max | min | first tenth (median) | last tenth (median) | drift (last − first) |",
            "|---|---|---|---|---|---|---|",
            f"| {fmt(lv['median_ms'], ' ms')} | {fmt(lv['p95_ms'], ' ms')} | {fmt(lv['max_ms'], ' ms')} | "
            f"{fmt(lv['min_ms'], ' ms')} | {fmt(lv['first_tenth_ms'], ' ms')} | {fmt(lv['last_tenth_ms'], ' ms')} | "
            f"{fmt(lv['drift_ms'], ' ms')} |",
            "",
        ]
        if lv.get("rss_start_mb"):
            growth = (lv["rss_end_mb"] - lv["rss_start_mb"]) / lv["rss_start_mb"]
            lines += [f"RSS after warm-up {fmt(lv['rss_start_mb'], ' MB', 1)} → end {fmt(lv['rss_end_mb'], ' MB', 1)} "
                      f"({growth:+.1%}).", ""]
    st = res["startup"]
    lines += ["## Start-up", "",
              f"`voicecoach --help`: {fmt(st['help_s'], ' s')}; `voicecoach listen` until ready (engines loaded, "
              f"first line printed): {fmt(st['listen_ready_s'], ' s')}.", ""]
    if not args.long:
        lines += ["The 10-minute live timing and soak run is behind `--long`.", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--long", action="store_true", help="add the 10-minute live timing / soak run")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement (medians)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--live-seconds", type=float, default=None, help="length of the quick live run (default 64)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "asr":
            res = child_asr(rest[0], rest[1], int(rest[2]))
        elif kind == "intents":
            res = child_intents(int(rest[0]))
        else:
            res = child_live(float(rest[0]))
        print(json.dumps(res))
        return 0

    res: dict = {"machine": machine()}
    print(f"machine: {res['machine']}", flush=True)
    cases = [("pocketsphinx", "command"), ("pocketsphinx", "dictation"), ("raw-pocketsphinx", "dictation"),
             ("whisper", "dictation"), ("raw-whisper", "dictation"), ("auto", "request")]
    res["asr"] = []
    asr_runs = args.runs if args.long else min(args.runs, 2)
    passes = 3 if args.long else 2
    res["asr_runs"] = (asr_runs, passes)
    for engine, mode in cases:
        runs = [child("asr", engine, mode, str(passes)) for _ in range(asr_runs)]
        ok = [r for r in runs if "error" not in r]
        label = f"{engine} ({mode})" if not engine.startswith("raw-") else f"{engine[4:]} library, direct"
        if not ok:
            res["asr"].append({"label": label, "error": runs[0]["error"]})
            continue
        row = dict(ok[0])
        for k in ("load_s", "rtf", "peak_mb", "model_mb"):
            row[k] = median([r[k] for r in ok])
        row["label"] = label
        res["audio_s"] = row["audio_s"]
        res["asr"].append(row)
        print(f"asr {label}: load {row['load_s']:.2f} s, RTF {row['rtf']:.3f}, peak {row['peak_mb']:.0f} MB",
              flush=True)
    res["intents"] = child("intents", str(max(3, args.runs)))
    print(f"intents: {res['intents']}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:  # timings that once were limits in the unit tests
        md = Path(tmp) / "units.md"
        r = subprocess.run([PY, str(ROOT / "scripts" / "bench_units.py"), "--runs", str(max(5, args.runs)),
                            "--write", str(md)], capture_output=True, text=True, timeout=1800, cwd=ROOT,
                           env=dict(os.environ, VOICECOACH_HOME=HOME))
        res["units"] = md.read_text(encoding="utf-8") if r.returncode == 0 and md.exists() else \
            "not measured: " + ((r.stderr.strip().splitlines() or ["?"])[-1])
    print(f"units: {res['units']}", flush=True)
    live_script = ROOT / "scripts" / "bench_live.py"
    if live_script.exists():
        # The live-loop benchmark (ten-plus requests, and stop -> silence) already exists: fold it in.
        # Twice: the default engine set-up (auto), and pocketsphinx alone (streaming, no whisper).
        folded, errors = [], []
        for engine in ("auto", "pocketsphinx"):
            with tempfile.TemporaryDirectory() as tmp:
                md = Path(tmp) / "live.md"
                r = subprocess.run([PY, str(live_script), "--engine", engine, "--write", str(md)],
                                   capture_output=True, text=True, timeout=1800, cwd=ROOT,
                                   env=dict(os.environ, VOICECOACH_HOME=HOME))
                if r.returncode == 0 and md.exists():
                    folded.append(f"### Engine: {engine}\n\n" + md.read_text(encoding="utf-8"))
                else:
                    errors.append(f"scripts/bench_live.py --engine {engine} failed: "
                                  + ((r.stderr.strip().splitlines() or ["?"])[-1]))
        res["latency"] = {"folded": "\n".join(folded + errors)} if folded else {"error": "; ".join(errors)}
    else:
        res["latency"] = listen_latency(args.runs)
    print(f"latency: {res['latency']}", flush=True)
    res["live"] = child("live", str(args.live_seconds or 64))
    print(f"live: {res['live']}", flush=True)
    if args.long:
        res["live_long"] = child("live", "600")
        print(f"live (10 min): {res['live_long']}", flush=True)
    res["startup"] = startup(args.runs)
    print(f"startup: {res['startup']}", flush=True)
    report = build_report(res, args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report + "\n", encoding="utf-8")
    print()
    print(report)
    print(f"\nwrote {args.out}")
    return 0


HOME = tempfile.mkdtemp(prefix="voicecoach-bench-")

if __name__ == "__main__":
    raise SystemExit(main())

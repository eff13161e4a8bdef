#!/usr/bin/env python3
"""Recognition on the many-voice corpus (``scripts/make_corpus.py``), per voice family.

    python scripts/bench_corpus.py [--corpus DIR] [--part commands,requests] [--per-family N]
        [--options grammar,open] [--request-windows default,30,10] [--raw] [--write-md FILE]

``commands``: every control clip, non-command clip and clip of the coach's own speech through
command mode, by each option:

- ``grammar``: the pocketsphinx grammar alone (the closed phrase set decides);
- ``open``: the grammar streams partial results, open recognition (whisper on a short window)
  gives the final text, and the intents matcher accepts or rejects it;
- ``confirmed``: as ``open``, and a barge-in partial result acts only when open recognition of
  the last 1.5 s confirms it (what the live loop does). With an intents matcher, ``open`` and
  ``confirmed`` include keyword spotting over the command forms (``voicecoach/asr/command.py``).

For each: control accuracy (the matcher's intent of what was heard = the intent of the sentence
as written), stop recall ("stop", "please stop"... all stop), non-commands taken as a control
command, the coach's own sentences taken as stop/pause/goodbye (from the final result, or from a
partial result the way the loop barges in: the same sure match twice in a row).

``requests``: request and crisis clips through request mode at each whisper window: intent
accuracy (intent of the transcript = intent of the sentence as written, so the typed path's own
misses do not count against listening), crisis recall (heard as ``crisis``), the crisis statements
the coach at least asks about (``crisis`` or ``crisis_check``), the requests it takes for a crisis
or asks about (false alarms), median decode time, and the raw
30-s-window whisper decode of the same clips (faster-whisper ``transcribe``) as a floor.

The held-out family (flite) is never used to choose anything; it is reported beside the others.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAGGED = {"crisis", "crisis_check"}
"""What the coach does not let pass: the crisis answer, or the direct question ("are you thinking
about ending your life?") that crisis_check asks (scripts/eval_safety.py counts the same)."""
CRISIS_KINDS = {"crisis", "blind-crisis"}
BLIND = {"blind-crisis", "blind-other"}
"""Sentences kept out of all tuning (``corpus_text.BLIND_CRISIS``): reported in their own table."""


def load(corpus: Path, kinds: set[str], per_family: int | None) -> list[dict]:
    rows = [json.loads(ln) for ln in (corpus / "manifest.jsonl").read_text().splitlines() if ln.strip()]
    rows = [r for r in rows if r["kind"] in kinds]
    if per_family:
        out, seen = [], defaultdict(int)
        by = defaultdict(list)
        for r in rows:
            if r["kind"] == "coach":
                out.append(r)  # the coach's own speech: always all of it (false stops per minute)
                continue
            by[(r["family"], r["kind"])].append(r)
        for _key, rs in sorted(by.items()):
            step = max(1, len(rs) // per_family)
            out.extend(rs[::step][:per_family])
        rows = out
        del seen
    return rows


def audio(corpus: Path, row: dict):
    from voicecoach.audio import read_wav, to_asr

    return to_asr(read_wav(corpus / row["file"]))


def intent(match, text: str, **kw) -> str | None:
    if not text:
        return None
    m = match(text, **kw)
    return "crisis" if m.crisis else m.name


def is_barge(matcher, text: str) -> str | None:
    """The barge-in intent of a partial result (the loop's rule, without its echo check)."""
    from voicecoach.asr.command import incomplete

    m = matcher.match(text, in_session=True)
    if incomplete(text) or m.crisis or m.name not in matcher.acting("barge_in") or m.confidence < 0.9:
        return None
    return m.name


def run_commands(corpus: Path, rows: list[dict], speech, matcher, option: str) -> dict:
    import dataclasses

    import numpy as np

    from voicecoach.asr.command import says_barge
    from voicecoach.ear import CONFIRM_EVERY
    from voicecoach.live import RUNNING_UNEXPECTED
    from voicecoach.types import AudioChunk

    sp = speech if option in ("open", "confirmed") else dataclasses.replace(speech, command_open=None)
    confirmed = option == "confirmed"
    # The session's state as the live loop tells command mode: a resume form is said to a paused
    # session, an answer to a question; everything else is heard over a session that runs. Every
    # resume form is also heard over a running session, where it must not become another command.
    rows = rows + [dict(r, kind="resume-running") for r in rows
                   if r["kind"] == "control" and r["label"] == "resume"]
    # What the loop acts on while the coach speaks, and what of it halts or ends a session (the
    # coach's own speech must never be heard as one): the intents' own lists.
    while_speaking, barge_in = matcher.acting("while_speaking"), matcher.acting("barge_in")
    res: dict = defaultdict(lambda: defaultdict(int))
    times: list[float] = []
    confirms: list[float] = []
    misses: list[str] = []
    for row in rows:
        chunk = audio(corpus, row)
        rec = sp.recognizer("command")
        running = row["kind"] in ("other", "coach", "resume-running") or (
            row["kind"] == "control" and row["label"] != "resume")
        if hasattr(rec, "unexpected"):
            rec.unexpected = RUNNING_UNEXPECTED if running else frozenset()
        rec.start()
        barge = None
        last, same, after = "", 0, 0
        x = chunk.samples
        for frame, i in enumerate(range(0, len(x), 480)):
            rec.accept(AudioChunk(16000, np.ascontiguousarray(x[i:i + 480])))
            p = rec.partial().text
            if p:
                same = same + 1 if p == last else 1
                last = p
                if barge is None and same >= 2 and frame >= after and is_barge(matcher, p):
                    # As the loop does (voicecoach/ear.py, Ear._check_partial): open
                    # recognition of the last moment must confirm the grammar's partial.
                    confirm = getattr(rec, "confirm", None) if confirmed else None
                    if confirm is None:
                        barge = is_barge(matcher, p)
                    else:
                        t0 = time.perf_counter()
                        c = confirm().text
                        barge = is_barge(matcher, c) if says_barge(c) else None
                        confirms.append(time.perf_counter() - t0)
                        if barge is None:
                            after = frame + CONFIRM_EVERY
        t0 = time.perf_counter()
        tr = rec.finish()
        times.append(time.perf_counter() - t0)
        got = intent(matcher.match, tr.text, in_session=True)
        expected = intent(matcher.match, row["text"], in_session=True) if row["label"] else None
        fam, kind = row["family"], row["kind"]
        r = res[(fam, kind)]
        r["n"] += 1
        if kind == "resume-running":
            other = (got in while_speaking and got != "resume") or barge is not None
            r["other"] += other
            if other:
                misses.append(f"{fam} resume over a running session: {row['text']!r} -> {_heard(rec, tr)} ({got}; barge {barge})")
        elif kind in ("control", "answer"):
            ok = got == expected or (barge is not None and barge == expected and got in (None, expected))
            r["ok"] += ok
            if expected == "stop":
                r["stop_n"] += 1
                r["stop_ok"] += (barge == "stop") or got == "stop"
            if not ok:
                misses.append(f"{fam}: {row['text']!r} -> {_heard(rec, tr)} ({got}) [{row['voice']}]")
        else:
            false = got in while_speaking
            r["false"] += false
            r["false_stop"] += (got in barge_in) or (barge is not None)
            r["seconds"] += row["seconds"]
            if false or barge:
                misses.append(f"{fam} {kind}: {row['text'][:50]!r} -> {_heard(rec, tr)} ({got}; barge {barge})")
    return {"res": res, "time": statistics.median(times), "misses": misses,
            "confirms": confirms}


def _heard(rec, tr) -> str:
    """What was heard, and what keyword spotting made of it when it chose a command form."""
    spotted = getattr(rec, "spotted", "")
    heard = getattr(rec, "heard", None)
    again = getattr(rec, "reread_text", "")
    if spotted and heard is not None:
        return f"{heard.text!r} spotted as {spotted!r}"
    if again and heard is not None:
        return f"{heard.text!r} reread as {again!r}"
    return repr(tr.text)


def run_requests(corpus: Path, rows: list[dict], speech, matcher, window: float | None) -> dict:
    """``window``: the smallest window requests are padded to; None: as shipped (MIN_WINDOW)."""
    from voicecoach.asr import whisper_engine as W

    saved = dict(W.MIN_WINDOW)
    if window is not None:
        W.MIN_WINDOW.update(request=window, dictation=window)
    res: dict = defaultdict(lambda: defaultdict(int))
    times: list[float] = []
    misses: list[str] = []
    seconds = 0
    try:
        for row in rows:
            chunk = audio(corpus, row)
            rec = speech.recognizer("request")
            rec.start()
            rec.accept(chunk)
            t0 = time.perf_counter()
            tr = rec.finish()
            times.append(time.perf_counter() - t0)
            seconds += getattr(getattr(rec, "open_rec", None), "_second", None) is not None
            got = intent(matcher.match, tr.text)
            expected = intent(matcher.match, row["text"])
            r = res[(row["family"], row["kind"])]
            r["n"] += 1
            r["ok"] += got == expected
            if row["kind"] in CRISIS_KINDS:
                r["crisis_n"] += expected == "crisis"
                r["crisis_ok"] += expected == "crisis" and got == "crisis"
                r["flag_ok"] += expected == "crisis" and got in FLAGGED
                r["flag_n"] += expected in FLAGGED
                r["flag_any"] += expected in FLAGGED and got in FLAGGED
            elif expected not in FLAGGED:
                r["n_unflagged"] += 1
                r["false_flag"] += got in FLAGGED
            if got != expected:
                misses.append(f"{row['family']}: {row['text']!r} -> {tr.text!r} ({got} != {expected}) [{row['voice']}]")
    finally:
        W.MIN_WINDOW.clear()
        W.MIN_WINDOW.update(saved)
    return {"res": res, "time": statistics.median(times), "misses": misses, "second": seconds}


def raw_whisper(corpus: Path, rows: list[dict]) -> float:
    """faster-whisper's own transcribe (30-s window) on the same clips: median seconds."""
    from faster_whisper import WhisperModel

    from voicecoach.asr.whisper_engine import BEAM_SIZE, DOMAIN_PROMPT, find_model
    from voicecoach.config import load_config

    model = WhisperModel(str(find_model(load_config())), device="cpu", compute_type="int8",
                         cpu_threads=min(4, os.cpu_count() or 1))
    times = []
    for row in rows:
        x = audio(corpus, row).samples.astype("float32") / 32768.0
        t0 = time.perf_counter()
        segs, _ = model.transcribe(x, language="en", beam_size=BEAM_SIZE, without_timestamps=True,
                                   condition_on_previous_text=False, initial_prompt=DOMAIN_PROMPT,
                                   vad_filter=False)
        list(segs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}% ({a}/{b})" if b else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("VOICECOACH_CORPUS") or str(Path.home() / ".cache" / "voicecoach" / "corpus")
    ap.add_argument("--corpus", type=Path, default=Path(default))
    ap.add_argument("--part", default="commands,requests")
    ap.add_argument("--per-family", type=int, default=None, help="at most N clips per family and kind")
    ap.add_argument("--options", default="grammar,open")
    ap.add_argument("--request-windows", default="default,30",
                    help="smallest request windows to compare, seconds; 'default': as shipped")
    ap.add_argument("--raw", action="store_true", help="also time faster-whisper's own 30-s decode")
    ap.add_argument("--misses", action="store_true")
    ap.add_argument("--write-md", type=Path, default=None, help="append the tables (markdown) here")
    args = ap.parse_args()
    if not (args.corpus / "manifest.jsonl").is_file():
        print(f"bench_corpus: no corpus at {args.corpus} (python scripts/make_corpus.py)", file=sys.stderr)
        return 2
    from voicecoach.asr import load_speech
    from voicecoach.config import load_config
    from voicecoach.intents import load_matcher

    config = load_config()
    matcher = load_matcher(config.home)
    speech = load_speech(config)
    speech.warm_up()
    md: list[str] = []
    parts = set(args.part.split(","))
    fams = ("espeak", "festival", "flite")
    if "commands" in parts:
        rows = load(args.corpus, {"control", "answer", "other", "coach"}, args.per_family)
        for option in args.options.split(","):
            out = run_commands(args.corpus, rows, speech, matcher, option)
            res = out["res"]
            conf = out["confirms"]
            cnote = (f"; {len(conf)} barge-in confirmations, median {statistics.median(conf) * 1000:.0f} ms"
                     if conf else "")
            print(f"\n== commands, option {option}: median finish {out['time'] * 1000:.0f} ms{cnote}")
            md += [f"Command mode, `{option}` (median finish {out['time'] * 1000:.0f} ms{cnote}):", "",
                   "| family | controls | stop forms → stop | answers | non-commands taken as a command | coach's speech: false stop |",
                   "|---|---|---|---|---|---|"]
            for f in fams:
                c, a, o, k = res[(f, "control")], res[(f, "answer")], res[(f, "other")], res[(f, "coach")]
                line = (f"| {f}{' (held out)' if f == 'flite' else ''} | {pct(c['ok'], c['n'])} | "
                        f"{pct(c['stop_ok'], c['stop_n'])} | {pct(a['ok'], a['n'])} | {pct(o['false'], o['n'])} | "
                        f"{k['false_stop']} in {k['seconds'] / 60:.1f} min |" if k['n'] else
                        f"| {f}{' (held out)' if f == 'flite' else ''} | {pct(c['ok'], c['n'])} | "
                        f"{pct(c['stop_ok'], c['stop_n'])} | {pct(a['ok'], a['n'])} | {pct(o['false'], o['n'])} | - |")
                print(line)
                md.append(line)
            rr = [res[(f, "resume-running")] for f in fams]
            if any(r["n"] for r in rr):
                line = ("Resume forms said over a running session, taken as another command: "
                        + ", ".join(f"{f} {pct(r['other'], r['n'])}" for f, r in zip(fams, rr, strict=True)) + ".")
                print(line)
                md += [line, ""]
            md.append("")
            if args.misses:
                print("\n".join(out["misses"]))
    if "requests" in parts:
        rows = load(args.corpus, {"request", "crisis"}, args.per_family)
        rows += load(args.corpus, BLIND, None)  # all of them, always
        if args.raw:
            raw = raw_whisper(args.corpus, rows)
            print(f"\nraw faster-whisper 30-s decode: median {raw * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}")
            md += [f"Raw faster-whisper `transcribe` (30-s window) on the same clips: median {raw * 1000:.0f} ms.", ""]
        for w in args.request_windows.split(","):
            out = run_requests(args.corpus, rows, speech, matcher, None if w == "default" else float(w))
            res = out["res"]
            label = "as shipped (5 s, 10 s past 4 s of speech)" if w == "default" else f"≥ {w} s"
            note = f"median decode {out['time'] * 1000:.0f} ms, 30-s second opinion on {out['second']} of {len(rows)}"
            print(f"\n== requests, window {label}: {note}; load average {os.getloadavg()[0]:.1f}")
            md += [f"Request mode, window {label} ({note}):", "",
                   "| family | requests | crisis statements (intent) | crisis recall | crisis or asked directly | requests taken for a crisis or asked about |",
                   "|---|---|---|---|---|---|"]
            for f in fams:
                q, c = res[(f, "request")], res[(f, "crisis")]
                line = (f"| {f}{' (held out)' if f == 'flite' else ''} | {pct(q['ok'], q['n'])} | "
                        f"{pct(c['ok'], c['n'])} | {pct(c['crisis_ok'], c['crisis_n'])} | "
                        f"{pct(c['flag_ok'], c['crisis_n'])} | {pct(q['false_flag'], q['n'])} |")
                print(line)
                md.append(line)
            md.append("")
            if any(k in BLIND for _f, k in res):
                md += ["Sentences kept blind (`corpus_text.BLIND_CRISIS`, `BLIND_OTHER`):", "",
                       "| family | crisis recall | flagged (crisis or asked directly) | everyday sentences taken for a crisis or asked about |",
                       "|---|---|---|---|"]
                print(md[-4])
                for f in fams:
                    c, o = res[(f, "blind-crisis")], res[(f, "blind-other")]
                    line = (f"| {f}{' (held out)' if f == 'flite' else ''} | {pct(c['crisis_ok'], c['crisis_n'])} | "
                            f"{pct(c['flag_any'], c['flag_n'])} | {pct(o['false_flag'], o['n_unflagged'])} |")
                    print(line)
                    md.append(line)
                md.append("")
            if args.misses:
                print("\n".join(out["misses"]))
    if args.write_md:
        with open(args.write_md, "a") as fh:
            fh.write("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

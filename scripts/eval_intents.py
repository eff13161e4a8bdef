#!/usr/bin/env python3
"""Measure the intent matcher and the crisis screen on the sentence files in tests/sentences/.

    .venv/bin/python scripts/eval_intents.py [-v] [--rules-only] [--cold] [FILES...]

Prints intent accuracy (and slot accuracy), crisis recall by category (clean, and with
speech-recognition style corruptions: no punctuation, a dropped small word, a misheard word),
how often ambiguous statements ask directly, and false positives on idioms and ordinary sentences;
then the loading time (matcher, and the semantic layer's encoder and exemplars) and the time per
utterance. ``--rules-only`` turns the semantic layer off (as without the semantic extra);
``--cold`` uses an empty cache directory, so the exemplars are encoded anew.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecoach.crisis import screen  # noqa: E402
from voicecoach.intents import load_matcher  # noqa: E402
from voicecoach.numbers import parse_minutes, parse_number  # noqa: E402

SMALL_WORDS = {"to", "a", "the", "i", "my", "im", "just", "all", "of", "it", "and", "so", "is", "be"}
MISHEARD = {"to": "too", "die": "dye", "my": "mi", "myself": "my self", "want": "wont",
            "end": "and", "i": "eye", "for": "four", "life": "live"}


def corruptions(text: str) -> list[str]:
    """ASR-style variants: no punctuation, each small word dropped, each word misheard."""
    bare = re.sub(r"[^\w\s']", "", text.lower()).replace("'", "")
    words = bare.split()
    out = [bare]
    for i, w in enumerate(words):
        if w in SMALL_WORDS and len(words) > 2:
            out.append(" ".join(words[:i] + words[i + 1 :]))
        if w in MISHEARD:
            out.append(" ".join(words[:i] + [MISHEARD[w]] + words[i + 1 :]))
    return list(dict.fromkeys(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    ap.add_argument("--rules-only", action="store_true", help="templates and keywords only")
    ap.add_argument("--cold", action="store_true", help="an empty cache: encode the exemplars anew")
    args = ap.parse_args(argv)
    files = args.files or sorted((ROOT / "tests" / "sentences").glob("*.yaml"))
    for f in files:
        if not f.is_file():
            print(f"eval_intents: {f}: no such file", file=sys.stderr)
            return 2
    if args.cold:
        os.environ["VOICECOACH_CACHE"] = tempfile.mkdtemp(prefix="voicecoach-eval-cache-")
    t0 = time.perf_counter()
    matcher = load_matcher(ROOT / ".eval-home-that-does-not-exist")
    load_s = time.perf_counter() - t0
    matcher.use_semantic = not args.rules_only
    t0 = time.perf_counter()
    semantic_on = matcher.warm_up()
    warm_s = time.perf_counter() - t0
    latencies: list[float] = []

    total = right = slot_total = slot_right = 0
    per_intent: dict[str, Counter] = defaultdict(Counter)
    misses: list[str] = []
    crisis_lines: dict[str, list[str]] = defaultdict(list)
    ambiguous: list[str] = []
    idioms: list[str] = []
    ordinary: list[str] = []
    numbers: list[dict] = []
    minutes: list[dict] = []
    for f in files:
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        for block in data.get("tests", []):
            ctx = block.get("context") or {}
            want = block["intent"]["name"]
            want_slots = block["intent"].get("slots") or {}
            for s in block["sentences"]:
                t0 = time.perf_counter()
                m = matcher.match(s, in_session=bool(ctx.get("in_session")),
                                  expecting_answer=bool(ctx.get("expecting_answer")))
                latencies.append(time.perf_counter() - t0)
                ok = (m.name in matcher.acting("in_answer")) if want == "any_command" \
                    else m.name == want
                total += 1
                right += ok
                per_intent[str(want)]["n"] += 1
                per_intent[str(want)]["ok"] += ok
                if not ok:
                    misses.append(f"  {s!r}: want {want}, got {m.name} (best {m.best} {m.confidence:.2f})")
                for k, v in want_slots.items():
                    slot_total += 1
                    if str(m.slots.get(k)) == str(v):
                        slot_right += 1
                    else:
                        misses.append(f"  {s!r}: slot {k} want {v}, got {m.slots.get(k)}")
        for cat, lines in (data.get("crisis") or {}).items():
            crisis_lines[cat] += lines
        ambiguous += data.get("ambiguous") or []
        idioms += data.get("idioms") or []
        ordinary += data.get("ordinary") or []
        numbers += data.get("numbers") or []
        minutes += data.get("minutes") or []

    print(f"intent accuracy: {right}/{total} = {right / max(total, 1):.1%}")
    if slot_total:
        print(f"slot accuracy:   {slot_right}/{slot_total} = {slot_right / slot_total:.1%}")
    worst = sorted(per_intent.items(), key=lambda kv: kv[1]["ok"] / kv[1]["n"])[:5]
    print("lowest intents:  " + ", ".join(f"{k} {v['ok']}/{v['n']}" for k, v in worst))

    states = [(False, False), (True, False), (True, True), (False, True)]
    all_caught = all_n = corrupt_caught = corrupt_n = corrupt_asked = 0
    for cat, lines in crisis_lines.items():
        caught = 0
        for s in lines:
            ok = all(matcher.match(s, in_session=a, expecting_answer=b).crisis for a, b in states)
            caught += ok
            if not ok:
                misses.append(f"  crisis missed ({cat}): {s!r}")
            for v in corruptions(s):
                corrupt_n += 1
                r = screen(v)
                if r.is_crisis:
                    corrupt_caught += 1
                elif r.ask_directly:
                    corrupt_asked += 1
                elif args.verbose:
                    misses.append(f"  corrupted crisis missed ({cat}): {v!r}")
        all_caught += caught
        all_n += len(lines)
        print(f"crisis recall {cat:13} {caught}/{len(lines)}")
    print(f"crisis recall (all states): {all_caught}/{all_n} = {all_caught / max(all_n, 1):.1%}")
    print(f"crisis recall on ASR-style corruptions: {corrupt_caught}/{corrupt_n} = "
          f"{corrupt_caught / max(corrupt_n, 1):.1%} caught, plus {corrupt_asked} asked directly")
    asked = sum(1 for s in ambiguous if screen(s).ask_directly or screen(s).is_crisis)
    print(f"ambiguous asked directly (or caught): {asked}/{len(ambiguous)}")
    for s in ambiguous:
        if not (screen(s).ask_directly or screen(s).is_crisis):
            misses.append(f"  ambiguous not asked: {s!r}")
    idiom_fp = [s for s in idioms if screen(s).is_crisis]
    print(f"idioms flagged as crisis: {len(idiom_fp)}/{len(idioms)} = {len(idiom_fp) / max(len(idioms), 1):.1%}")
    ord_fp = [s for s in ordinary if matcher.match(s).crisis or screen(s).is_crisis]
    ord_ask = [s for s in ordinary if screen(s).ask_directly]
    print(f"ordinary sentences flagged as crisis: {len(ord_fp)}/{len(ordinary)}"
          f" (asked directly: {len(ord_ask)})")
    misses += [f"  idiom flagged: {s!r}" for s in idiom_fp] + [f"  ordinary flagged: {s!r}" for s in ord_fp]
    misses += [f"  ordinary asked: {s!r}" for s in ord_ask]
    n_ok = sum(parse_number(x["text"], tuple(x.get("scale", (0, 10)))) == x["value"] for x in numbers)
    m_ok = sum(parse_minutes(x["text"]) == x["value"] for x in minutes)
    print(f"numbers: {n_ok}/{len(numbers)}, minutes: {m_ok}/{len(minutes)}")
    print(f"semantic layer: {'on' if semantic_on else 'off'}; loading: matcher {load_s:.2f} s, "
          f"encoder and exemplars {warm_s:.2f} s{' (cold cache)' if args.cold else ''}")
    if latencies:
        ms = sorted(x * 1000 for x in latencies)
        print(f"per utterance: median {statistics.median(ms):.1f} ms, "
              f"95th percentile {ms[int(0.95 * (len(ms) - 1))]:.1f} ms ({len(ms)} utterances)")
    if args.verbose and misses:
        print("misses:")
        print("\n".join(misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

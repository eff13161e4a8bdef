#!/usr/bin/env python3
"""Timings of single parts, each beside a floor measured in the same run (medians).

    .venv/bin/python scripts/bench_units.py [--runs 5] [--write FILE.md]

These were once limits inside unit tests; on a shared, busy machine a wall-clock limit in a test
fails for reasons that are not the code's, so the figures live here. Each floor is the least the
same work can cost on this machine right now, so a row reads as "how far above the floor":

- sentence encoder, one utterance: the encoder beside the same dense products alone in numpy, and
  with the learned crisis layer's views beside it without them;
- intent matcher load: with a warm cache beside no cache, and beside reading the cache file alone;
- journal, one answer on disk: ``record_answer`` beside a bare SQLite insert and commit with the
  same pragmas, in the same folder;
- voice, one cue: cached beside synthesised.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UTTERANCE = "okay um so i'm honestly a bit all over the place tonight"


def _median_s(fn, runs: int, repeat: int = 1) -> float:
    values = []
    for _ in range(runs):
        t = time.perf_counter()
        for _ in range(repeat):
            fn()
        values.append((time.perf_counter() - t) / repeat)
    return statistics.median(values)


def encoder(runs: int) -> dict:
    import numpy as np

    from voicecoach import embed

    enc = embed.get_encoder()
    if enc is None:
        return {"error": f"no sentence encoder: {embed.load_error()}"}
    enc.encode(["warm up"])
    n = len(enc.tokenize(UTTERANCE))
    x = np.random.default_rng(0).standard_normal((n, enc.hidden)).astype(np.float32)

    def products():  # the dense products of every layer, nothing else
        for wqkv, _b, wo, _bo, _l1w, _l1b, wi, _bi, wo2, *_ in enc.layers:
            _ = x @ wqkv, x @ wo, (x @ wi) @ wo2

    with embed.one_blas_thread():
        floor = _median_s(products, runs, 10)
    from voicecoach import crisis_model

    views = crisis_model.default_model().views
    return {"tokens": n, "encode_s": _median_s(lambda: enc.encode([UTTERANCE]), runs, 10), "floor_s": floor,
            "views": views, "views_s": _median_s(lambda: enc.encode([UTTERANCE], views=views), runs, 10)}


def matcher_load(runs: int) -> dict:
    import yaml

    import voicecoach.crisis as crisis_mod
    import voicecoach.intents as intents_mod

    with tempfile.TemporaryDirectory() as tmp:
        home, cache = Path(tmp) / "home", Path(tmp) / "cache"
        home.mkdir()

        def load(cache_dir: str) -> None:
            os.environ["VOICECOACH_CACHE"] = cache_dir
            intents_mod._CACHE.clear()
            crisis_mod.default_screen.cache_clear()
            intents_mod.load_matcher(home)

        load(str(cache))  # fills the cache
        warm = _median_s(lambda: load(str(cache)), runs)
        cold = _median_s(lambda: load(""), max(1, runs // 2))
        files = list(cache.glob("expansions-*.json"))
        intents_yaml = ROOT / "voicecoach" / "data" / "intents.yaml"
        floor = _median_s(lambda: (json.loads(files[0].read_text(encoding="utf-8")),
                                   yaml.safe_load(intents_yaml.read_text(encoding="utf-8"))), runs)
    os.environ.pop("VOICECOACH_CACHE", None)
    return {"warm_s": warm, "cold_s": cold, "floor_s": floor}


def journal_write(runs: int) -> dict:
    from voicecoach.journal import Journal

    with tempfile.TemporaryDirectory(dir=os.environ.get("VOICECOACH_HOME")) as tmp:
        j = Journal.open(Path(tmp))
        sid = j.begin_session("thought-record")
        count = [0]

        def record():
            count[0] += 1
            j.record_answer(sid, "thought_record", "situation", f"text {count[0]}")

        record()
        journal_s = _median_s(record, runs, 20)
        j.close()
        con = sqlite3.connect(Path(tmp) / "floor.sqlite3", isolation_level=None)
        for pragma in ("journal_mode = WAL", "synchronous = FULL"):
            con.execute(f"PRAGMA {pragma}")
        con.execute("CREATE TABLE t (v TEXT)")

        def bare():
            con.execute("BEGIN")
            con.execute("INSERT INTO t VALUES (?)", ("text",))
            con.execute("COMMIT")

        bare()
        floor = _median_s(bare, runs, 20)
        con.close()
    return {"write_s": journal_s, "floor_s": floor}


def voice_cue(runs: int) -> dict:
    from voicecoach.tts.espeak import EspeakVoice, find_espeak

    if find_espeak() is None:
        return {"error": "espeak-ng is not installed"}
    v = EspeakVoice(160, 0.9)
    texts = [f"Breathe in slowly, number {i}" for i in range(runs)]
    cold = statistics.median(_median_s(lambda t=t: v.synthesize(t), 1) for t in texts)
    warm = _median_s(lambda: v.synthesize(texts[0]), runs, 100)
    v.close()
    return {"cold_s": cold, "cached_s": warm}


def report(res: dict, runs: int) -> str:
    def ms(x: float) -> str:
        return f"{x * 1000:.3f} ms" if x < 0.01 else f"{x * 1000:.1f} ms"

    rows = []
    e = res["encoder"]
    if "error" in e:
        rows.append(f"| sentence encoder, one utterance | not measured: {e['error']} | | |")
    else:
        rows.append(f"| sentence encoder, one utterance ({e['tokens']} tokens) | {ms(e['encode_s'])} | "
                    f"{ms(e['floor_s'])} (its dense products alone, numpy) | {e['encode_s'] / e['floor_s']:.1f} |")
        rows.append(f"| the same with the crisis layer's views ({', '.join(e['views'])}), as the matcher runs it | "
                    f"{ms(e['views_s'])} | {ms(e['encode_s'])} (the sentence vector alone) | "
                    f"{e['views_s'] / e['encode_s']:.2f} |")
    m = res["matcher"]
    rows.append(f"| intent matcher load, warm cache | {ms(m['warm_s'])} | {ms(m['floor_s'])} (reading the "
                f"cache file and intents.yaml alone) | {m['warm_s'] / m['floor_s']:.1f} |")
    rows.append(f"| intent matcher load, no cache | {ms(m['cold_s'])} | {ms(m['warm_s'])} (warm cache) | "
                f"{m['cold_s'] / m['warm_s']:.1f} |")
    j = res["journal"]
    rows.append(f"| journal, one answer on disk | {ms(j['write_s'])} | {ms(j['floor_s'])} (bare SQLite insert + "
                f"commit, WAL, synchronous=FULL, same folder) | {j['write_s'] / j['floor_s']:.1f} |")
    v = res["voice"]
    if "error" in v:
        rows.append(f"| voice, one cue | not measured: {v['error']} | | |")
    else:
        rows.append(f"| voice, one cue from the cache | {ms(v['cached_s'])} | {ms(v['cold_s'])} (synthesised "
                    f"by espeak-ng) | 1/{v['cold_s'] / v['cached_s']:.0f} |")
    return "\n".join([
        f"`.venv/bin/python scripts/bench_units.py --runs {runs}`: medians of {runs} runs, each beside a floor "
        "measured in the same run.",
        "",
        "| part | time | floor | ratio |",
        "|---|---|---|---|",
        *rows,
        "",
    ])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (medians)")
    ap.add_argument("--write", metavar="FILE.md", help="also write the section to this file")
    args = ap.parse_args()
    os.environ.setdefault("VOICECOACH_HOME", tempfile.mkdtemp(prefix="voicecoach-bench-"))
    res = {"encoder": encoder(args.runs), "matcher": matcher_load(args.runs),
           "journal": journal_write(args.runs), "voice": voice_cue(args.runs)}
    text = report(res, args.runs)
    print(text)
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure the answer reader (voicecoach/answers.py) on a file of answers by question kind.

    .venv/bin/python scripts/eval_answers.py tests/sentences/heldout/answers.yaml [-v]

Kinds: safety (safe/unsafe/unsure), direct (yes/no/unsure: the "are you thinking about ending
your life?" question), yes_no (yes/no/unclear), kind_words (kind/unkind/unsure), free_text
(content/no_content), rating ({text, value}). For the two safety questions it also counts the
readings that matter most: an unsafe or unsure answer read as safe (to "are you safe?") or as a
denial (to the direct question). Prints the figures; exits 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicecoach.answers import read_free_text, read_kind_words, read_risk, read_safety, read_yes_no  # noqa: E402
from voicecoach.numbers import parse_number  # noqa: E402

READERS = {"safety": read_safety, "direct": read_risk, "yes_no": read_yes_no,
           "kind_words": read_kind_words, "free_text": read_free_text}


def evaluate(path: str, verbose: bool = False) -> dict[str, tuple[int, int]]:
    data = yaml.safe_load(Path(path).read_text())
    results: dict[str, tuple[int, int]] = {}
    for kind, groups in data.items():
        if kind == "rating":
            ok = 0
            for item in groups:
                got = parse_number(str(item["text"]), (0, 10))
                if got == item["value"]:
                    ok += 1
                elif verbose:
                    print(f"   rating {item['text']!r}: want {item['value']}, got {got}")
            results["rating"] = (ok, len(groups))
            continue
        read = READERS[kind]
        for want, answers in groups.items():
            want = {True: "yes", False: "no"}.get(want, want)
            ok = 0
            for a in answers or []:
                got = read(str(a)).value
                if got == want:
                    ok += 1
                elif verbose:
                    print(f"   {kind}/{want} {a!r}: read as {got}")
            results[f"{kind}/{want}"] = (ok, len(answers or []))
        if kind in ("safety", "direct"):
            bad_to = "safe" if kind == "safety" else "no"
            risky = [a for w, ans in groups.items() if w in ("unsafe", "unsure", "yes", True) for a in ans or []]
            wrong = [a for a in risky if read(str(a)).value == bad_to]
            results[f"{kind}: unsafe or unsure read as {bad_to}"] = (len(wrong), len(risky))
            if verbose:
                for a in wrong:
                    print(f"   DANGEROUS {kind}: {a!r} read as {bad_to}")
    return results


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true", help="also print every answer read wrongly")
    args = ap.parse_args(argv)
    for path in args.files:
        if not path.is_file():
            print(f"eval_answers: {path}: no such file", file=sys.stderr)
            return 2
        print(f"== {path}")
        total = good = 0
        for key, (ok, n) in evaluate(str(path), args.verbose).items():
            print(f"{key}: {ok}/{n}")
            if ":" not in key:
                total += n
                good += ok
        print(f"all readings: {good}/{total} = {good / max(1, total):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Measure the crisis screen and command recognition on a sentence batch, typed.

    .venv/bin/python scripts/eval_safety.py tests/sentences/heldout/crisis_indirect.yaml \
        tests/sentences/heldout/commands_in_sentences.yaml

For a crisis file (keys crisis, hard_negatives, idioms): recall of ``crisis`` (flagged as crisis
or crisis_check, idle and in a session), how many hard negatives and idioms were flagged, and how
many hard negatives were taken as a control intent (and how many of those as goodbye: the right
intent for a leave-taking). For a commands file (commands, not_commands):
commands recognised as their intent in a session, and sentences wrongly taken as a control intent.
Prints one line a measure and the misses; exits 0 (it measures, it does not judge).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voicecoach.intents import load_matcher  # noqa: E402


def main(paths: list[str]) -> int:
    if not paths or paths[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if paths else 2
    for path in paths:
        if not Path(path).is_file():
            print(f"eval_safety: {path}: no such file", file=sys.stderr)
            return 2
    matcher = load_matcher()
    control = matcher.acting("control")
    for path in paths:
        data = yaml.safe_load(Path(path).read_text())
        print(f"== {path}")
        if "crisis" in data:
            crisis = data["crisis"]
            misses = []
            for s in crisis:
                a, b = matcher.match(s), matcher.match(s, in_session=True)
                if not (a.flagged and b.flagged):
                    misses.append((s, a.name, b.name))
            print(f"crisis recall: {len(crisis) - len(misses)}/{len(crisis)}")
            for s, a, b in misses:
                print(f"   missed: {s!r} -> {a} / {b}")
            for key in ("hard_negatives", "idioms"):
                items = data.get(key) or []
                fl, ctl = [], []
                for s in items:
                    a, b = matcher.match(s), matcher.match(s, in_session=True)
                    if a.flagged or b.flagged:
                        fl.append((s, a.name if a.flagged else b.name))
                    elif a.name in control or b.name in control:
                        ctl.append((s, b.name if b.name in control else a.name))
                # goodbye is the right reading of a leave-taking ("k bye", "nighty night"): counted
                # apart, so a leave-taking batch does not read as commands taken wrongly
                bye = sum(n == "goodbye" for _, n in ctl)
                print(f"{key} flagged: {len(fl)}/{len(items)}; taken as a control intent: {len(ctl)}/{len(items)}"
                      f" ({bye} of them goodbye)")
                for s, n in fl:
                    print(f"   flagged: {s!r} -> {n}")
                for s, n in ctl:
                    print(f"   control: {s!r} -> {n}")
        if "commands" in data:
            cmds = data["commands"]
            wrong = []
            for c in cmds:
                m = matcher.match(c["text"], in_session=True)
                if m.name != c["intent"]:
                    wrong.append((c["text"], c["intent"], m.name))
            print(f"commands recognised: {len(cmds) - len(wrong)}/{len(cmds)}")
            for t, want, got in wrong:
                print(f"   {t!r}: want {want}, got {got}")
            nots = data.get("not_commands") or []
            taken = []
            for s in nots:
                a, b = matcher.match(s), matcher.match(s, in_session=True)
                if a.name in control or b.name in control:
                    taken.append((s, b.name if b.name in control else a.name))
            print(f"not-commands taken as a control intent: {len(taken)}/{len(nots)}")
            for s, n in taken:
                print(f"   {s!r} -> {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""``voicecoach journal``: list, show, export, stats (a terminal chart, or a PNG with matplotlib)
and delete."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from voicecoach.errors import VoicecoachError

_LABELS = {
    "situation": "Situation",
    "feeling": "Feeling",
    "intensity_before": "Intensity before (0-10)",
    "thought": "Thought",
    "belief_before": "Belief before (0-100)",
    "evidence_for": "Evidence for",
    "evidence_against": "Evidence against",
    "alternatives": "Alternatives",
    "balanced_thought": "Balanced thought",
    "belief_after": "Belief after (0-100)",
    "intensity_after": "Intensity after (0-10)",
    "plan": "Plan",
    "before": "Anxiety before (0-10)",
    "after": "Anxiety after (0-10)",
}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="list entries, newest last").add_argument(
        "--kind", help="only entries of this kind (thought_record, breathing, win...)"
    )
    show = sub.add_parser("show", help="show one entry in full")
    show.add_argument("id", type=int)
    export = sub.add_parser("export", help="print every entry as JSON, CSV or Markdown")
    export.add_argument("--format", choices=("json", "csv", "md"), default="json")
    export.add_argument("--kind", help="only entries of this kind")
    stats = sub.add_parser("stats", help="sessions per week and the average drop in anxiety")
    stats.add_argument("--json", action="store_true", help="print machine-readable JSON")
    stats.add_argument("--plot", metavar="FILE.png", type=Path,
                       help="draw ratings over time and the change per technique to a PNG "
                            "(needs matplotlib: the 'plot' extra)")
    delete = sub.add_parser("delete", help="delete one entry, or everything with --all")
    delete.add_argument("id", type=int, nargs="?")
    delete.add_argument(
        "--all", action="store_true", help="delete every entry and the session history"
    )
    delete.add_argument("--yes", action="store_true", help="do not ask to confirm")


def run(args: argparse.Namespace) -> int:
    from voicecoach.config import load_config
    from voicecoach.journal import Journal

    action = getattr(args, "action", None)
    if action is None:
        print("usage: voicecoach journal {list,show,export,stats,delete} ...", file=sys.stderr)
        return 2
    cfg = load_config()
    if action == "delete" and not args.all and args.id is None:
        print("voicecoach: journal delete needs an entry ID, or --all", file=sys.stderr)
        return 2
    if action == "delete" and args.all and not args.yes and not sys.stdin.isatty():
        print(
            "voicecoach: journal delete --all deletes everything; "
            "run it on a terminal to confirm, or add --yes",
            file=sys.stderr,
        )
        return 1
    journal = Journal.open(cfg.home)
    try:
        if action == "list":
            return _list(journal, args.kind)
        if action == "show":
            return _show(journal, args.id)
        if action == "export":
            return _export(journal, args.format, args.kind)
        if action == "stats":
            return _stats(journal, args.json, args.plot)
        return _delete(journal, args)
    finally:
        journal.close()


def _summary(entry: Any) -> str:
    f = entry.fields
    for key in ("thought", "situation", "sentence", "urge", "win", "trigger", "activity"):
        if f.get(key):
            text = str(f[key])
            return text if len(text) <= 50 else text[:47] + "..."
    if "before" in f or "after" in f:
        return f"anxiety {f.get('before', '?')} -> {f.get('after', '?')}"
    return ", ".join(sorted(f))[:50]


def _list(journal: Any, kind: str | None) -> int:
    entries = journal.entries(kind)
    if not entries:
        print("The journal is empty.")
        return 0
    print(f"{'ID':>5}  {'CREATED (UTC)':<20}  {'KIND':<16}  {'':<10}  SUMMARY")
    for e in entries:
        state = "" if e.complete else "incomplete"
        print(f"{e.id:>5}  {e.created:<20}  {e.kind:<16}  {state:<10}  {_summary(e)}")
    return 0


def _show(journal: Any, entry_id: int) -> int:
    entry = journal.get(entry_id)
    if entry is None:
        raise VoicecoachError(f"no journal entry {entry_id} (see: voicecoach journal list)")
    print(f"Entry {entry.id}: {entry.kind}")
    print(f"  created: {entry.created}")
    print(f"  complete: {'yes' if entry.complete else 'no (cut off before the end)'}")
    if entry.session_id is not None:
        print(f"  session: {entry.session_id}")
    for name, value in entry.to_dict().items():
        if name in ("id", "kind", "created", "complete"):
            continue
        label = _LABELS.get(name, name.replace("_", " ").capitalize())
        print(f"  {label}: {_text(value)}")
    return 0


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def export_document(journal: Any, kind: str | None = None) -> dict[str, Any]:
    """The JSON export: ``{"schema_version": 1, "entries": [...], "sessions": [...]}``."""
    from voicecoach.journal import EXPORT_SCHEMA_VERSION

    return {
        "schema_version": EXPORT_SCHEMA_VERSION,
        "entries": [e.to_dict() for e in journal.entries(kind)],
        "sessions": [s.to_dict() for s in journal.sessions()],
    }


def _export(journal: Any, fmt: str, kind: str | None) -> int:
    doc = export_document(journal, kind)
    entries = doc["entries"]
    if fmt == "json":
        json.dump(doc, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if fmt == "csv":
        columns = ["id", "kind", "created", "complete"]
        for e in entries:
            for key in e:
                if key not in columns:
                    columns.append(key)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for e in entries:
            writer.writerow({k: _csv_value(v) for k, v in e.items()})
        sys.stdout.write(buf.getvalue())
        return 0
    lines = ["# voicecoach journal", ""]
    if not entries:
        lines.append("The journal is empty.")
    for e in entries:
        state = "" if e["complete"] else " (incomplete)"
        lines.append(f"## {e['id']}. {e['kind'].replace('_', ' ')}, {e['created']}{state}")
        lines.append("")
        for key, value in e.items():
            if key in ("id", "kind", "created", "complete"):
                continue
            label = _LABELS.get(key, key.replace("_", " ").capitalize())
            lines.append(f"- **{label}:** {_text(value)}")
        lines.append("")
    sys.stdout.write("\n".join(lines).rstrip("\n") + "\n")
    return 0


def _csv_value(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    return value


PLOT_HINT = ("voicecoach: --plot needs matplotlib, which is not installed; "
             "install it with: pip install 'voicecoach[plot]'")
SPARKS = "▁▂▃▄▅▆▇█"
SPARK_SESSIONS = 40
"""The terminal chart shows at most this many of the latest rated sessions."""


def _stats(journal: Any, as_json: bool, plot: Path | None) -> int:
    if plot is not None and not _have_matplotlib():
        print(PLOT_HINT, file=sys.stderr)
        return 1
    stats = journal.stats()
    if plot is not None:
        write_plot(plot, stats)
    if as_json:
        json.dump(stats, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"Sessions: {stats['sessions']}")
    for week, count in stats["sessions_per_week"].items():
        drop = stats["drop_per_week"].get(week)
        extra = f"   average drop {drop:+.1f}" if drop is not None else ""
        print(f"  {week}: {count:>3} {'█' * min(count, 40)}{extra}")
    for line in terminal_chart(stats):
        print(line)
    if stats["average_drop"] is None:
        print("Average drop in anxiety: no sessions rated before and after yet.")
    else:
        print(
            f"Average drop in anxiety, before to after: {stats['average_drop']:.1f} points "
            f"(over {stats['rated']} rated entries)"
        )
    if plot is not None:
        print(f"Plot written to {plot}")
    return 0


def sparkline(values: list[float], top: float = 10.0) -> str:
    """Ratings on a 0..top scale as one line of block characters."""
    out = []
    for v in values:
        level = 0 if top <= 0 else round(max(0.0, min(top, v)) / top * (len(SPARKS) - 1))
        out.append(SPARKS[level])
    return "".join(out)


def terminal_chart(stats: dict[str, Any]) -> list[str]:
    """Ratings over time as sparklines and the typical change per technique as bars."""
    lines: list[str] = []
    ratings = stats.get("ratings") or []
    if ratings:
        shown = ratings[-SPARK_SESSIONS:]
        lines.append(f"Ratings, oldest to newest ({len(shown)} sessions, 0-10):")
        lines.append(f"  before {sparkline([r['before'] for r in shown])}")
        lines.append(f"  after  {sparkline([r['after'] for r in shown])}")
    techniques = stats.get("techniques") or []
    if techniques:
        lines.append("Typical change per technique (median drop, before to after):")
        width = max(len(t["script"]) for t in techniques)
        for t in techniques:
            drop = t["typical_drop"]
            bar = "█" * max(0, min(20, round(drop * 2))) if drop > 0 else ""
            note = _sessions(t["sessions"]) + (", little to go on" if t["little_to_go_on"] else "")
            lines.append(f"  {t['script']:<{width}}  {drop:+5.1f} {bar}  ({note})")
    return lines


def _sessions(n: int) -> str:
    return f"{n} session{'s' if n != 1 else ''}"


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plot(path: Path, stats: dict[str, Any]) -> None:
    """Two panels into a PNG: each rated session's before and after rating over time, and the
    typical (median) drop per technique as bars. Written atomically; needs matplotlib."""
    import os
    import tempfile
    from datetime import datetime

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 6), dpi=100, layout="constrained")
    over_time, per_technique = fig.subplots(2, 1)
    ratings = stats.get("ratings") or []
    if ratings:
        when = [datetime.strptime(r["created"], "%Y-%m-%dT%H:%M:%SZ") for r in ratings]
        over_time.plot(when, [r["before"] for r in ratings], "o-", color="#c8643c", label="before")
        over_time.plot(when, [r["after"] for r in ratings], "o-", color="#4a8ac8", label="after")
        over_time.legend(loc="upper right")
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        locator = AutoDateLocator()
        over_time.xaxis.set_major_locator(locator)
        over_time.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    else:
        over_time.text(0.5, 0.5, "no sessions rated before and after yet", ha="center",
                       va="center", transform=over_time.transAxes)
    over_time.set_ylim(-0.5, 10.5)
    over_time.set_ylabel("rating (0-10)")
    over_time.set_title("Ratings over time")
    techniques = stats.get("techniques") or []
    if techniques:
        names = [t["script"] for t in techniques]
        drops = [t["typical_drop"] for t in techniques]
        bars = per_technique.barh(names, drops, color="#6aa86a")
        per_technique.bar_label(bars, labels=[_sessions(t["sessions"]) for t in techniques],
                                padding=3)
        per_technique.invert_yaxis()
        per_technique.margins(x=0.2)
        per_technique.axvline(0, color="#888888", linewidth=1)
    per_technique.set_xlabel("typical drop, before to after (median)")
    per_technique.set_title("Change per technique")
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".plot-", suffix=".png", dir=str(path.parent or "."))
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png")
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise VoicecoachError(f"{path}: cannot write the plot: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _delete(journal: Any, args: argparse.Namespace) -> int:
    if args.all:
        count = len(journal.entries())
        if not args.yes:
            try:
                answer = input(
                    f"Delete all {count} entries and the session history? This cannot be undone. "
                    "Type yes to confirm: "
                )
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("yes", "y"):
                print("Nothing deleted.")
                return 1
        journal.delete_all()
        print(f"Deleted {count} entries and the session history.")
        return 0
    if not journal.delete(args.id):
        raise VoicecoachError(f"no journal entry {args.id} (see: voicecoach journal list)")
    print(f"Deleted entry {args.id}.")
    return 0

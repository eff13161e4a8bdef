"""``voicecoach journal``: list, show, export, stats (with a PNG plot) and delete."""

from __future__ import annotations

import argparse
import csv
import io
import json
import struct
import sys
import zlib
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
    stats.add_argument("--plot", metavar="FILE.png", type=Path, help="draw the figures to a PNG")
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


def _stats(journal: Any, as_json: bool, plot: Path | None) -> int:
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
        print(f"  {week}: {count:>3} {'#' * min(count, 40)}{extra}")
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


# --- a small PNG writer (no plotting library needed) -----------------------------------------------


class _Canvas:
    def __init__(self, width: int, height: int, bg: tuple[int, int, int] = (255, 255, 255)):
        self.w, self.h = width, height
        self.px = bytearray(bytes(bg) * (width * height))

    def set(self, x: int, y: int, color: tuple[int, int, int]) -> None:
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i : i + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        for y in range(max(0, min(y0, y1)), min(self.h, max(y0, y1) + 1)):
            for x in range(max(0, min(x0, x1)), min(self.w, max(x0, x1) + 1)):
                self.set(x, y, color)

    def line(
        self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int], width: int = 2
    ) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(steps + 1):
            x = round(x0 + (x1 - x0) * i / steps)
            y = round(y0 + (y1 - y0) * i / steps)
            self.rect(
                x - width // 2, y - width // 2, x + (width - 1) // 2, y + (width - 1) // 2, color
            )

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.px[y * self.w * 3 : (y + 1) * self.w * 3]) for y in range(self.h)
        )

        def chunk(tag: bytes, data: bytes) -> bytes:
            body = tag + data
            return (
                struct.pack(">I", len(data))
                + body
                + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
            )

        header = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def write_plot(path: Path, stats: dict[str, Any], width: int = 640, height: int = 320) -> None:
    """Bars: sessions per week. Line with dots: the average drop in anxiety that week (0-10 scale,
    the zero line in grey). Written atomically."""
    import os
    import tempfile

    canvas = _Canvas(width, height)
    margin = 24
    left, right, top, bottom = margin, width - margin, margin, height - margin
    canvas.rect(left, bottom, right, bottom, (120, 120, 120))
    canvas.rect(left, top, left, bottom, (120, 120, 120))
    weeks = sorted(set(stats["sessions_per_week"]) | set(stats["drop_per_week"]))
    if weeks:
        most = max(stats["sessions_per_week"].values(), default=1) or 1
        slot = (right - left) / len(weeks)
        bar = max(2, int(slot * 0.6))
        zero = (top + bottom) // 2
        canvas.rect(left + 1, zero, right, zero, (220, 220, 220))
        points = []
        for i, week in enumerate(weeks):
            cx = int(left + slot * (i + 0.5))
            count = stats["sessions_per_week"].get(week, 0)
            bar_h = int((bottom - top - 4) * count / most)
            if bar_h:
                canvas.rect(
                    cx - bar // 2, bottom - bar_h, cx + bar // 2, bottom - 1, (120, 160, 210)
                )
            drop = stats["drop_per_week"].get(week)
            if drop is not None:
                y = int(zero - max(-10.0, min(10.0, drop)) / 10.0 * (zero - top))
                points.append((cx, y))
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            canvas.line(x0, y0, x1, y1, (220, 110, 60), 3)
        for x, y in points:
            canvas.rect(x - 3, y - 3, x + 3, y + 3, (200, 80, 40))
    data = canvas.png()
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".plot-", suffix=".png", dir=str(path.parent or "."))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise VoicecoachError(f"{path}: cannot write the plot: {exc.strerror or exc}") from None

"""What a person sees while the live loop runs: the coach's words, what was heard, the breathing
phase, notices and the crisis resources."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from voicecoach.types import Cue

# --------------------------------------------------------------------------- the display


PHASE_LABEL = {"inhale": "breathe in", "hold_in": "hold", "exhale": "breathe out", "hold_out": "hold"}


class Display:
    """What the person sees. Plain lines when stdout is not a terminal; on a terminal a live
    panel (rich) refreshed by rich's own thread, so the loop only sets fields."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None, clock: Callable[[], float] | None = None,
                 quiet: bool = False):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.clock = clock or time.monotonic
        if live is None:
            live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.live = live and not quiet
        self.partial = ""
        self.heard = ""
        self.coach_text = ""
        self.step = ""
        self.phase: str | None = None
        self.phase_start = 0.0
        self.phase_len = 4.0
        self.phase_secs: dict[str, float] = {}
        self.notices: list[str] = []
        self.lines: list[str] = []
        """Every line written, for tests and the demo's transcript."""
        self._live = None
        if self.live:
            try:
                from rich.console import Console
                from rich.live import Live

                self._console = Console(file=self.stream)
                self._live = Live(self, console=self._console, refresh_per_second=8, transient=False)
                self._live.start()
            except Exception:  # noqa: BLE001 - never let the display stop the session
                self._live = None
                self.live = False

    # called by the loop
    def line(self, text: str) -> None:
        self.lines.append(text)
        if self.quiet:
            return
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
            return
        try:
            print(text, file=self.stream, flush=True)
        except BrokenPipeError:
            pass

    def show_partial(self, text: str) -> None:
        self.partial = text

    def show_heard(self, text: str, note: str = "") -> None:
        self.partial = ""
        self.heard = text
        self.line(f"heard: {text}{note}" if text else f"heard: (nothing clear){note}")

    def show_speak(self, cue: Cue, now: float) -> None:
        self.coach_text = cue.text
        if cue.phase:
            if cue.phase != self.phase:
                self.phase, self.phase_start = cue.phase, now
                self.phase_len = self.phase_secs.get(cue.phase, 4.0)
            self.line(f"coach: {cue.text}  [{PHASE_LABEL.get(cue.phase, cue.phase)}]")
        else:
            self.phase = None
            self.line(f"coach: {cue.text}")

    def show_step(self, step: Any, label: str) -> None:
        self.step = label
        self.phase_secs = {}
        for p in getattr(step, "phases", ()) or ():
            try:
                self.phase_secs[str(getattr(p, "name", ""))] = float(getattr(p, "seconds", 4.0))
            except (TypeError, ValueError):
                pass

    def notice(self, text: str) -> None:
        self.notices.append(text)
        self.line(f"voicecoach: {text}")

    def close(self) -> None:
        if self._live is not None:
            try:
                self._live.stop()
            except Exception:  # noqa: BLE001
                pass
            self._live = None

    # rich calls this from its refresh thread
    def __rich__(self):
        from rich.text import Text

        t = Text()
        if self.step:
            t.append(f"step: {self.step}\n", style="bold")
        t.append(self.pacer() + "\n")
        t.append(f"hearing: {self.partial}" if self.partial else "listening…", style="dim")
        return t

    def pacer(self, width: int = 30) -> str:
        """A bar that fills on the in-breath, stays on a hold, and empties on the out-breath."""
        if self.phase is None:
            return ""
        frac = min(1.0, max(0.0, (self.clock() - self.phase_start) / max(0.1, self.phase_len)))
        level = {"inhale": frac, "hold_in": 1.0, "exhale": 1.0 - frac, "hold_out": 0.0}.get(self.phase, 0.0)
        n = int(round(level * width))
        return f"{PHASE_LABEL.get(self.phase, self.phase):<12} [{'█' * n}{' ' * (width - n)}]"

"""``VOICECOACH_TRACE=FILE``: the ear's and the echo path's decisions as JSON lines (session
time ``t``, an event name, its figures), to see why a real-audio run heard what it heard.
Nothing is written when the variable is unset."""

from __future__ import annotations

import json
import os
from typing import Any

_path = os.environ.get("VOICECOACH_TRACE") or None
_fh: Any = None


def enabled() -> bool:
    return _path is not None


def trace(event: str, t: float, **figures: Any) -> None:
    global _fh
    if _path is None:
        return
    if _fh is None:
        _fh = open(_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the process
    _fh.write(json.dumps({"t": round(float(t), 3), "event": event, **figures}, default=float) + "\n")
    _fh.flush()


def save_arrays(**arrays: Any) -> str | None:
    """Arrays beside the trace (``FILE.npz``), for ``scripts/replay_echo.py``; the path, or None
    when not tracing."""
    if _path is None:
        return None
    import numpy as np

    np.savez(_path + ".npz", **arrays)
    return _path + ".npz"

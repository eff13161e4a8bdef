"""What the coach said, on the session clock: the player that records every cue it plays (the
WAV of ``listen --output-wav`` and the echo canceller's reference), and writing it out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from voicecoach.audio import ASR_RATE, resample, to_mono
from voicecoach.errors import AudioError
from voicecoach.player import RecordingPlayer
from voicecoach.types import AudioChunk
from voicecoach.vad import VoiceActivity

RETRY_SECONDS = 1.0


# --------------------------------------------------------------------------- the speaker


class TapePlayer(RecordingPlayer):
    """Every cue on the session clock (for the output WAV, the echo check and a simulated room),
    passed on to a real speaker when there is one. A speaker that fails is reported once and
    tried again; the session goes on in print."""

    def __init__(self, clock: Callable[[], float], inner: Any = None,
                 notice: Callable[[str], None] | None = None):
        super().__init__(clock)
        self.inner = inner
        self.notice = notice or (lambda msg: None)
        self._failed_at: float | None = None
        self._asr: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def play(self, chunk: AudioChunk, text: str | None = None) -> None:
        super().play(chunk, text)
        if self.inner is None:
            return
        if self._failed_at is not None:
            if time.monotonic() - self._failed_at < RETRY_SECONDS:
                return
            try:
                self.inner.reopen()
            except (AudioError, AttributeError):
                self._failed_at = time.monotonic()
                return
            self._failed_at = None
            self.notice("the speaker is back")
        try:
            self.inner.play(chunk, text)
        except AudioError as exc:
            self._failed_at = time.monotonic()
            self.notice(f"{exc}; I'll print what I say until it is back")

    def stop(self) -> None:
        if self.inner is not None:
            self.inner.stop()
        super().stop()

    def close(self) -> None:
        super().close()
        if self.inner is not None:
            self.inner.close()

    def at_16k(self, chunk: AudioChunk) -> np.ndarray:
        hit = self._asr.get(id(chunk.samples))
        if hit is not None and hit[0] is chunk.samples:
            return hit[1]
        x = resample(to_mono(chunk), ASR_RATE).samples
        self._asr[id(chunk.samples)] = (chunk.samples, x)
        return x

    def window(self, t0: float, n: int) -> np.ndarray:
        """What the speaker put into the room over ``n`` samples from session time ``t0``
        (16 kHz): the simulated echo for a file microphone."""
        out = np.zeros(n, np.int32)
        t1 = t0 + n / ASR_RATE
        for p in self.played[-4:]:
            if p.end <= t0 or p.start >= t1:
                continue
            x = self.at_16k(p.chunk)
            i0 = int(round((t0 - p.start) * ASR_RATE))
            stop = int(round((p.end - p.start) * ASR_RATE))
            a = max(0, i0)
            b = min(len(x), stop, i0 + n)
            if b > a:
                out[a - i0 : b - i0] += x[a:b]
        return np.clip(out, -32768, 32767).astype(np.int16)

    def level_db(self, t0: float, t1: float) -> float:
        """The loudest 30 ms frame played between session times t0 and t1 (dBFS; -120 when
        silent)."""
        if not self.played or self.played[-1].end <= t0 and all(p.end <= t0 for p in self.played[-3:]):
            return -120.0
        x = self.window(t0, max(1, int(round((t1 - t0) * ASR_RATE))))
        n = len(x) // 480
        if n == 0:
            return VoiceActivity.level_db(x)
        frames = x[: n * 480].astype(np.float64).reshape(n, 480)
        r = float(np.sqrt(np.mean(frames**2, axis=1)).max())
        return 20.0 * np.log10(r / 32768.0) if r > 0 else -120.0

    def mix(self, seconds: float, rate: int = ASR_RATE) -> np.ndarray:
        """The whole output on the session clock, ``seconds`` long, at ``rate``."""
        n = max(0, int(round(seconds * rate)))
        out = np.zeros(n, np.int32)
        for p in self.played:
            x = resample(to_mono(p.chunk), rate).samples
            i = int(round(p.start * rate))
            m = min(len(x), int(round((p.end - p.start) * rate)), n - i)
            if i < 0 or m <= 0:
                continue
            out[i : i + m] += x[:m]
        return np.clip(out, -32768, 32767).astype(np.int16)


def write_output(path, player: TapePlayer, seconds: float, extra: np.ndarray | None = None,
                 rate: int = ASR_RATE) -> None:
    """The coach's speech (plus ``extra`` 16 kHz audio, e.g. the requests) as one WAV on the
    session clock, ``seconds`` long."""
    from voicecoach.audio import write_wav

    out = player.mix(seconds, rate).astype(np.int32)
    if extra is not None and extra.size:
        x = resample(AudioChunk(ASR_RATE, extra), rate).samples if rate != ASR_RATE else extra
        n = min(len(out), len(x))
        out[:n] += x[:n]
    write_wav(path, AudioChunk(rate, np.clip(out, -32768, 32767).astype(np.int16)))

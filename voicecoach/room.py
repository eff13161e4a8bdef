"""A simulated room for the echo canceller (voicecoach/aec.py): the coach's played audio, delayed,
at a gain, through a short reverb, added to the microphone, as `voicecoach listen --echo-gain-db
--echo-delay-ms` and the benchmarks use it. The canceller never sees its gain, delay or reverb."""

from __future__ import annotations

import numpy as np

from voicecoach.aec import RATE, Reference, _Clock
from voicecoach.errors import VoicecoachError


def room_impulse(rt60: float = 0.15, length: float = 0.08, seed: int = 7) -> np.ndarray:
    """A short room: the direct sound, then exponentially decaying diffuse reflections
    (``rt60`` seconds to fall 60 dB), normalised so the direct path has gain 1."""
    rng = np.random.default_rng(seed)
    n = int(length * RATE)
    t = np.arange(n) / RATE
    h = rng.standard_normal(n) * 10 ** (-3.0 * t / rt60) * 0.04
    h[: int(0.003 * RATE)] = 0.0  # first reflections arrive a few ms after the direct sound
    h[0] = 1.0
    return h


def check_room(gain_db: float, delay_ms: float) -> None:
    """VoicecoachError naming the flag when a simulated room is out of range."""
    if not -60.0 <= gain_db <= 20.0:
        raise VoicecoachError(f"--echo-gain-db: {gain_db:g} is outside -60..20 dB")
    if not 0.0 <= delay_ms <= 1000.0:
        raise VoicecoachError(f"--echo-delay-ms: {delay_ms:g} is outside 0..1000 ms")


class RoomEcho:
    """What a microphone in a room hears of the speaker: the played audio, delayed, at a gain
    (0 dB = the played samples unchanged), through a short reverb, added to the input. With
    ``drift_ppm``, the speaker's clock runs that much slower than the microphone's (two devices,
    two crystals): the echo comes a little later every second. With ``step_ms``, the delay grows
    by that much every ``step_every`` seconds at once, as it does between two PulseAudio sinks
    joined by a loopback that corrects its latency in steps."""

    def __init__(self, reference: Reference, gain_db: float = 0.0, delay_ms: float = 60.0,
                 reverb: bool = True, drift_ppm: float = 0.0, step_ms: float = 0.0, step_every: float = 3.0):
        check_room(gain_db, delay_ms)
        self.reference = reference
        self.gain = 10 ** (gain_db / 20.0)
        self.delay = delay_ms / 1000.0
        self.ir = room_impulse() if reverb else np.ones(1)
        self.rate = 1.0 - drift_ppm * 1e-6
        self.step, self.step_every = step_ms / 1000.0, step_every
        self._clock = _Clock()

    def add(self, samples: np.ndarray, t_end: float) -> np.ndarray:
        if samples.size == 0:
            return samples
        n, m = len(samples), len(self.ir) - 1
        t0 = self._clock.advance(n, t_end)
        if self.rate == 1.0 and not self.step:
            src = self.reference(t0 - self.delay - m / RATE, n + m).astype(np.float64)
        else:  # the speaker's samples at the microphone's instants, interpolated
            t = t0 + np.arange(-m, n) / RATE
            at = (t * self.rate - self.delay - self.step * np.floor(np.maximum(t, 0.0) / self.step_every)) * RATE
            first = int(np.floor(at[0]))
            ref = self.reference(first / RATE, int(np.ceil(at[-1])) - first + 2).astype(np.float64)
            src = np.interp(at - first, np.arange(len(ref)), ref)
        echo = np.convolve(src, self.ir, mode="valid")[:n] * self.gain
        return np.clip(np.round(samples.astype(np.float64) + echo), -32768, 32767).astype(np.int16)

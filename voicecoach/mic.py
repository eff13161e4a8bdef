"""Microphone sources: 16 kHz mono int16 audio, chunk by chunk, on an input clock.

Contract of a :class:`Source`
-----------------------------
``start()``
    Open the input. Raises :class:`MicError` (one line, for the person) when there is none.
``read(timeout) -> numpy.ndarray | None``
    The next samples (16 kHz mono int16, any length), or None when nothing arrived within
    ``timeout`` seconds. Raises :class:`MicError` when the device failed (unplugged, stream
    error); the caller keeps its state and calls ``start()`` again until it succeeds.
``finished``
    True once a file input has delivered all its files (it then goes on giving silence, like a
    quiet room). Always False for a real microphone.
``realtime``
    True when samples arrive at the pace of the clock on the wall; False for ``--fast`` files
    (virtual time: ``read`` never waits).
``close()``
    Release the device (idempotent).

Sources: :class:`SoundDeviceMic` (PortAudio, opened at a rate the device supports and
resampled), :class:`FileMic` (WAV files placed on the input clock, fed through the same path).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voicecoach.audio import ASR_RATE, read_wav, to_asr
from voicecoach.errors import AudioError, VoicecoachError

CHUNK = 480
"""Samples per chunk handed on (30 ms at 16 kHz), for files and as the device block size."""


class MicError(AudioError):
    """The microphone is missing or failed; the message is for the person."""


class Source(Protocol):
    realtime: bool

    @property
    def finished(self) -> bool: ...

    def start(self) -> None: ...

    def read(self, timeout: float) -> np.ndarray | None: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- resampling


class StreamResampler:
    """Mono int16 from ``src`` Hz to ``dst`` Hz across chunk boundaries, without clicks at the
    joins: linear interpolation after a moving-average low-pass, with the phase carried over."""

    def __init__(self, src: int, dst: int = ASR_RATE):
        self.src, self.dst = int(src), int(dst)
        self.step = self.src / self.dst
        self.width = max(1, int(np.ceil(self.src / self.dst))) if self.src > self.dst else 1
        self._hist = np.zeros(self.width - 1 + 1, dtype=np.float64)
        """The last ``width`` input samples (low-pass history; its last one is the join)."""
        self._pos = 0.0
        """Position of the next output sample, in input samples after the join sample."""

    def process(self, x: np.ndarray) -> np.ndarray:
        if self.src == self.dst:
            return x.astype(np.int16, copy=False)
        if x.size == 0:
            return np.zeros(0, np.int16)
        xf = np.concatenate([self._hist, x.astype(np.float64)])
        if self.width > 1:
            c = np.cumsum(np.concatenate([[0.0], xf]))
            smooth = (c[self.width :] - c[: -self.width]) / self.width  # len(xf) - width + 1
        else:
            smooth = xf
        # smooth[0] is the join sample (the last of the previous call).
        last = len(smooth) - 1
        if self._pos > last:
            self._pos -= last
            self._hist = xf[-self.width :]
            return np.zeros(0, np.int16)
        n = int(np.floor((last - self._pos) / self.step)) + 1
        t = self._pos + self.step * np.arange(n)
        y = np.interp(t, np.arange(len(smooth)), smooth)
        self._pos = t[-1] + self.step - last
        self._hist = xf[-self.width :]
        return np.clip(np.round(y), -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------- a real microphone


def find_input_device(spec: str | int | None, devices: list[Any]) -> Any:
    """The input device for a config value: None = the default, an index, or a name (exact,
    else the first containing it). MicError naming it when absent."""
    inputs = [d for d in devices if d.max_input_channels > 0]
    if not inputs:
        raise MicError("no microphone found (see `voicecoach devices`)")
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        for d in inputs:
            if d.is_default_input:
                return d
        return inputs[0]
    names = ", ".join(f"{d.index} {d.name}" for d in inputs)
    if isinstance(spec, int) or str(spec).strip().isdigit():
        for d in inputs:
            if d.index == int(spec):
                return d
        raise MicError(f"no microphone #{spec} (inputs: {names}; see `voicecoach devices`)")
    want = str(spec).strip().lower()
    for d in inputs:
        if d.name.lower() == want:
            return d
    for d in inputs:
        if want in d.name.lower():
            return d
    raise MicError(f"no microphone matches '{spec}' (inputs: {names}; see `voicecoach devices`)")


class SoundDeviceMic:
    """A PortAudio input stream at a rate the device accepts, resampled to 16 kHz mono.

    The stream callback only copies blocks into a queue; ``read`` resamples. An input overflow
    (the process fell behind and the device dropped audio) is counted and reported once through
    ``notice``; a stream that stops (device unplugged) makes ``read`` raise MicError."""

    realtime = True
    finished = False

    def __init__(self, device: str | int | None = None, notice: Callable[[str], None] | None = None):
        self.device_spec = device
        self.notice = notice or (lambda msg: None)
        self.overflows = 0
        self._q: queue.Queue = queue.Queue()
        self._stream = None
        self._fault: str | None = None
        self._res: StreamResampler | None = None
        self.name = ""
        self.rate = 0
        self._clock: Any = None
        self.captured: float | None = None
        """``time.monotonic()`` at which the last samples ``read`` returned left the ADC (the
        stream's own time, not when they were read), or None if the stream gives no times."""

    def start(self) -> None:
        from voicecoach.audio import StreamClock
        from voicecoach.player import COMMON_RATES, _sounddevice, list_devices

        try:
            sd = _sounddevice()
        except VoicecoachError as exc:
            raise MicError(str(exc)) from None
        self.close()
        try:
            devices = list_devices(refresh=self._fault is not None)
        except Exception as exc:  # noqa: BLE001 - PortAudio errors
            raise MicError(f"cannot list audio devices: {_one_line(exc)}") from None
        dev = find_input_device(self.device_spec, devices)
        rates = [int(dev.default_samplerate), ASR_RATE, *COMMON_RATES]
        last: Exception | None = None
        for rate in dict.fromkeys(r for r in rates if r):
            try:
                sd.check_input_settings(device=dev.index, samplerate=rate, channels=1, dtype="int16")
                self.rate, self._clock = rate, StreamClock()
                stream = sd.InputStream(device=dev.index, samplerate=rate, channels=1, dtype="int16",
                                        blocksize=int(rate * CHUNK / ASR_RATE), latency="low",
                                        callback=self._callback, finished_callback=self._finished)
                stream.start()
            except Exception as exc:  # noqa: BLE001 - "Invalid sample rate" and friends
                last = exc
                continue
            self._stream, self.name = stream, dev.name
            self._res = StreamResampler(rate, ASR_RATE)
            self._fault = None
            self._q = queue.Queue()
            return
        raise MicError(f"cannot open the microphone '{dev.name}': {_one_line(last) if last else 'no usable rate'}")

    def _callback(self, indata, frames, time_info, status) -> None:
        now = time.monotonic()
        if status.input_overflow:
            self.overflows += 1
            self._q.put("overflow")
        end = None
        try:
            adc, cur = float(time_info.inputBufferAdcTime), float(time_info.currentTime)
            if adc > 0.0 and cur > 0.0 and 0.0 <= cur - adc < 1.0:
                end = self._clock.to_monotonic(adc + frames / self.rate, cur, now)
        except (AttributeError, TypeError):
            pass
        self._q.put((indata[:, 0].copy(), end))

    def _finished(self) -> None:
        if self._stream is not None:
            self._fault = f"the microphone '{self.name}' stopped (unplugged?)"
            self._q.put("fault")

    def read(self, timeout: float) -> np.ndarray | None:
        if self._stream is None:
            raise MicError(self._fault or "the microphone is not open")
        try:
            item = self._q.get(timeout=max(0.0, timeout))
        except queue.Empty:
            if not self._stream.active:
                self._fault = self._fault or f"the microphone '{self.name}' stopped (unplugged?)"
                raise MicError(self._fault) from None
            return None
        if isinstance(item, str):
            if item == "overflow":
                if self.overflows == 1 or self.overflows % 50 == 0:
                    self.notice("the microphone dropped some audio (the computer fell behind)")
                return np.zeros(0, np.int16)
            raise MicError(self._fault or "the microphone stopped")
        samples, self.captured = item
        return self._res.process(samples) if self._res is not None else samples

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # noqa: BLE001 - a vanished device cannot be closed cleanly
                pass


# --------------------------------------------------------------------------- files as a microphone


@dataclass
class Placement:
    """One file on the input clock."""

    path: Path
    at: float | None = None
    """Start time in seconds; None = straight after the previous file (or when ``when`` says)."""
    when: Callable[[float], bool] | None = None
    """For scripted inputs: the file starts at the first chunk where this returns True (given
    the input time), at or after ``at`` and after the previous file."""
    label: str = ""
    """What is said in it (for the demo's transcript)."""
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    start: float | None = None
    """When it actually started on the input clock."""


def parse_input(spec: str) -> Placement:
    """``FILE.wav`` or ``FILE.wav@SECONDS``."""
    path, at = spec, None
    if "@" in spec:
        head, _, tail = spec.rpartition("@")
        try:
            at = float(tail)
        except ValueError:
            at = None
        else:
            path = head
            if at < 0:
                raise VoicecoachError(f"{spec}: the start time must be 0 or more seconds")
    return Placement(Path(path), at)


class FileMic:
    """WAV files fed as if spoken into the microphone: the same 30 ms chunks a device gives,
    silence between and after them. ``realtime=True`` paces chunks on the wall clock (``read``
    waits for each); ``False`` is virtual time (``read`` returns at once)."""

    def __init__(self, placements: list[Placement], realtime: bool = False, chunk: int = CHUNK):
        self.realtime = realtime
        self.chunk = chunk
        self.placements = placements
        for p in placements:
            if p.audio.size == 0:
                p.audio = to_asr(read_wav(p.path)).samples
        self.pos = 0
        """Samples delivered (the input clock is pos / 16000)."""
        self._i = 0
        self._cur: Placement | None = None
        self._cur_off = 0
        self._t0: float | None = None
        self.fail: Callable[[float], bool] | None = None
        """Tests: a fault injector, given the input time; True = the device fails now."""
        self.started_count = 0
        self.on_start: Callable[[Placement], None] | None = None
        """Called when a file starts playing into the microphone."""

    @classmethod
    def from_specs(cls, specs: list[str], realtime: bool = False) -> FileMic:
        return cls([parse_input(s) for s in specs], realtime)

    @property
    def t(self) -> float:
        return self.pos / ASR_RATE

    @property
    def finished(self) -> bool:
        return self._cur is None and self._i >= len(self.placements)

    def start(self) -> None:
        self.started_count += 1
        if self.fail is not None and self.fail(self.t):
            raise MicError("the microphone is not there (unplugged?)")
        if self._t0 is None:
            self._t0 = time.monotonic()
        elif self.realtime:
            self._t0 = time.monotonic() - self.t

    def read(self, timeout: float) -> np.ndarray | None:
        if self.fail is not None and self.fail(self.t):
            raise MicError("the microphone stopped (unplugged?)")
        if self._t0 is None:
            self.start()
        if self.realtime:
            t0 = self._t0 if self._t0 is not None else time.monotonic()
            due = t0 + (self.pos + self.chunk) / ASR_RATE
            wait = due - time.monotonic()
            if wait > timeout:
                time.sleep(max(0.0, timeout))
                return None
            if wait > 0:
                time.sleep(wait)
        out = np.zeros(self.chunk, np.int16)
        filled = 0
        while filled < self.chunk:
            if self._cur is None:
                if self._i >= len(self.placements):
                    break
                nxt = self.placements[self._i]
                now = (self.pos + filled) / ASR_RATE
                if (nxt.at is not None and now + 1e-9 < nxt.at) or (nxt.when is not None and not nxt.when(now)):
                    # Not yet: silence up to its start (or this chunk's end).
                    if nxt.at is not None and nxt.when is None:
                        gap = int(round(nxt.at * ASR_RATE)) - (self.pos + filled)
                        filled += max(1, min(gap, self.chunk - filled))
                        continue
                    break
                self._cur, self._cur_off = nxt, 0
                nxt.start = now
                self._i += 1
                if self.on_start is not None:
                    self.on_start(nxt)
            take = min(self.chunk - filled, len(self._cur.audio) - self._cur_off)
            out[filled : filled + take] = self._cur.audio[self._cur_off : self._cur_off + take]
            filled += take
            self._cur_off += take
            if self._cur_off >= len(self._cur.audio):
                self._cur = None
        self.pos += self.chunk
        return out

    def close(self) -> None:
        pass

    def mix(self, length: int) -> np.ndarray:
        """The input as delivered, ``length`` samples from sample 0 (for the demo's WAV)."""
        out = np.zeros(length, np.int32)
        for p in self.placements:
            if p.start is None:
                continue
            i = int(round(p.start * ASR_RATE))
            n = max(0, min(len(p.audio), length - i))
            out[i : i + n] += p.audio[:n]
        return np.clip(out, -32768, 32767).astype(np.int16)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__



"""Speech playback: PCM out to the speakers, behind one small interface.

Contract of a :class:`Player`
-----------------------------
``play(chunk, text=None)``
    Starts ``chunk`` now and returns at once (it never blocks on the sound). A new ``play`` while
    something is playing **replaces** it: the old sound is cut and the new one starts
    immediately. The dialogue engine emits each cue at its deadline and has already cut it to fit
    its slot, so a queue would only push later cues off the beat. ``text`` is the words being
    said (for ``current_text`` and ``spoken_between``).
``stop()``
    Silence now: the play buffer is cleared, so only what the device already holds (its output
    latency, a few ms to tens of ms) is still heard. Safe from any thread, idempotent.
``busy``
    True while a sound is (believed to be) coming out of the speaker.
``playing_until``
    ``time.monotonic()`` at which the current sound ends at the speaker (output latency
    included), or None when silent. The live loop uses it to know when the coach is speaking.
``current_text``
    The words of the sound playing now, or None.
``spoken_between(t0, t1)``
    What was played (text, start, end on the monotonic clock) overlapping ``[t0, t1]``: the live
    loop compares a command it heard with the words the coach was saying then, so the coach's own
    voice picked up by the microphone is not taken as a command.
``wait(timeout=None) -> bool``
    Block until the sound ends or is stopped; True if silent on return.
``close()``
    Stop and release the device (idempotent).

Faults of a real device (unplugged, stream error) raise :class:`~voicecoach.errors.AudioError`
from ``play`` with a one-line message; ``reopen()`` tries the device again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np

from voicecoach.audio import StreamClock, resample, to_mono
from voicecoach.errors import AudioError, EngineUnavailable
from voicecoach.types import AudioChunk

Clock = Callable[[], float]

COMMON_RATES = (48000, 44100, 32000, 24000, 22050, 16000)
"""Rates tried, after the device's own default, when a device refuses the one asked for."""


@dataclass(frozen=True)
class Spoken:
    """One sound the player played."""

    text: str | None
    """The words, when the caller said what they were."""
    start: float
    """Monotonic time the sound starts at the speaker."""
    end: float
    """Monotonic time it ends (earlier than planned when it was stopped or replaced)."""
    cut: bool = False
    """True when stop() or a newer play() cut it short."""


@dataclass(frozen=True)
class DeviceInfo:
    """An audio device as PortAudio sees it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool = False
    is_default_output: bool = False

    @property
    def is_default(self) -> bool:
        """The default input or output device."""
        return self.is_default_input or self.is_default_output


@runtime_checkable
class Player(Protocol):
    """PCM to the speaker. See the module docstring for the contract."""

    def play(self, chunk: AudioChunk, text: str | None = None) -> None: ...

    def stop(self) -> None: ...

    @property
    def busy(self) -> bool: ...

    @property
    def playing_until(self) -> float | None: ...

    @property
    def current_text(self) -> str | None: ...

    def spoken_between(self, t0: float, t1: float) -> list[Spoken]: ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- shared timing


class _Timeline:
    """Who is speaking when: the part of every player that keeps time."""

    history_size = 64

    def __init__(self, clock: Clock = time.monotonic):
        self.clock = clock
        self._state = threading.Condition()
        self._current: Spoken | None = None
        self._history: deque[Spoken] = deque(maxlen=self.history_size)

    def _begin(self, seconds: float, text: str | None, latency: float = 0.0) -> Spoken:
        with self._state:
            now = self.clock()
            self._cut(now)
            start = now + latency
            entry = Spoken(text, start, start + seconds)
            self._current = entry
            self._history.append(entry)
            self._state.notify_all()
            return entry

    def _cut(self, now: float) -> None:
        cur = self._current
        if cur is not None and now < cur.end:
            cut = replace(cur, end=max(cur.start, now), cut=True)
            if self._history and self._history[-1] is cur:
                self._history[-1] = cut
        self._current = None

    def _end(self) -> None:
        with self._state:
            self._cut(self.clock())
            self._state.notify_all()

    @property
    def playing_until(self) -> float | None:
        cur = self._current
        if cur is None or self.clock() >= cur.end:
            return None
        return cur.end

    @property
    def busy(self) -> bool:
        return self.playing_until is not None

    @property
    def current_text(self) -> str | None:
        cur = self._current
        if cur is None or self.clock() >= cur.end:
            return None
        return cur.text

    @property
    def history(self) -> list[Spoken]:
        """The last sounds played, oldest first."""
        with self._state:
            return list(self._history)

    def spoken_between(self, t0: float, t1: float) -> list[Spoken]:
        with self._state:
            return [s for s in self._history if s.start <= t1 and s.end >= t0]

    def wait(self, timeout: float | None = None) -> bool:
        if self.clock is not time.monotonic:
            # A hand-driven clock never moves while we wait: report, don't block.
            return not self.busy
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._state:
            while True:
                until = self.playing_until
                if until is None:
                    return True
                now = time.monotonic()
                limit = until - now if deadline is None else min(until, deadline) - now
                if deadline is not None and now >= deadline:
                    return False
                self._state.wait(max(0.0, min(limit, 0.05)))


# --------------------------------------------------------------------------- fakes / no device


class NullPlayer(_Timeline):
    """No audio device: plays nothing but keeps time, so ``playing_until`` and ``busy`` are what
    they would be with a speaker (the coach prints its words meanwhile)."""

    def __init__(self, clock: Clock = time.monotonic):
        super().__init__(clock)

    def play(self, chunk: AudioChunk, text: str | None = None) -> None:
        self._begin(chunk.seconds, text)

    def stop(self) -> None:
        self._end()

    def close(self) -> None:
        self._end()


@dataclass
class Played:
    """One ``play`` call seen by a RecordingPlayer."""

    start: float
    """Clock time of the call (= the sound's start)."""
    chunk: AudioChunk
    text: str | None = None
    stopped_at: float | None = None
    """Clock time it was cut by stop() or a newer play(), else None."""

    @property
    def end(self) -> float:
        full = self.start + self.chunk.seconds
        return full if self.stopped_at is None else min(full, self.stopped_at)


class RecordingPlayer(_Timeline):
    """A speaker for tests: records every ``(start, chunk, text)`` on an injectable clock."""

    def __init__(self, clock: Clock = time.monotonic):
        super().__init__(clock)
        self.played: list[Played] = []
        self.stops: list[float] = []
        """Clock times of stop() calls."""

    def play(self, chunk: AudioChunk, text: str | None = None) -> None:
        now = self.clock()
        self._mark_cut(now)
        self.played.append(Played(now, chunk, text))
        self._begin(chunk.seconds, text)

    def stop(self) -> None:
        now = self.clock()
        self.stops.append(now)
        self._mark_cut(now)
        self._end()

    def close(self) -> None:
        self._end()

    def _mark_cut(self, now: float) -> None:
        if self.played:
            last = self.played[-1]
            if last.stopped_at is None and now < last.start + last.chunk.seconds:
                last.stopped_at = now

    @property
    def texts(self) -> list[str | None]:
        return [p.text for p in self.played]

    def mixdown(self, rate: int | None = None, t0: float = 0.0) -> AudioChunk:
        """Everything played as one mono chunk on the clock (sample 0 = clock time ``t0``),
        cut where it was stopped: what a microphone beside the speaker would have heard."""
        rate = rate or (self.played[0].chunk.rate if self.played else 16000)
        end = max((p.end for p in self.played), default=t0)
        out = np.zeros(max(0, int(round((end - t0) * rate))), dtype=np.int32)
        for p in self.played:
            x = resample(to_mono(p.chunk), rate).samples
            n = min(len(x), int(round((p.end - p.start) * rate)))
            i = int(round((p.start - t0) * rate))
            if i < 0 or n <= 0:
                continue
            n = min(n, len(out) - i)
            out[i : i + n] += x[:n]
        return AudioChunk(rate, np.clip(out, -32768, 32767).astype(np.int16))


# --------------------------------------------------------------------------- sounddevice


def _sounddevice():
    """The sounddevice module; EngineUnavailable when PortAudio is missing."""
    try:
        import sounddevice
    except ImportError:
        raise EngineUnavailable("sounddevice is not installed (pip install sounddevice)") from None
    except OSError:
        raise EngineUnavailable("PortAudio is not installed (sudo apt install libportaudio2)") from None
    return sounddevice


def list_devices(refresh: bool = False) -> list[DeviceInfo]:
    """Every PortAudio device. ``refresh=True`` re-scans (PortAudio only looks once, when it
    starts; a re-scan closes every PortAudio stream of this process, so use it only when none
    is open). With no devices at all the scan is always refreshed (nothing can be open then)."""
    sd = _sounddevice()
    devices = sd.query_devices()
    if refresh or len(devices) == 0:
        sd._terminate()
        sd._initialize()
        devices = sd.query_devices()
    try:
        default_in, default_out = (int(x) for x in sd.default.device)
    except (TypeError, ValueError):
        default_in = default_out = -1
    if default_in < 0 or default_out < 0:
        try:
            api = sd.query_hostapis(0)
            default_in = default_in if default_in >= 0 else int(api.get("default_input_device", -1))
            default_out = default_out if default_out >= 0 else int(api.get("default_output_device", -1))
        except Exception:  # noqa: BLE001 - no host API at all
            pass
    hostapis = [h["name"] for h in sd.query_hostapis()]
    out = []
    for d in devices:
        i = int(d["index"])
        api = d.get("hostapi", 0)
        out.append(
            DeviceInfo(
                index=i,
                name=str(d["name"]),
                hostapi=hostapis[api] if 0 <= api < len(hostapis) else str(api),
                max_input_channels=int(d["max_input_channels"]),
                max_output_channels=int(d["max_output_channels"]),
                default_samplerate=float(d["default_samplerate"]),
                is_default_input=i == default_in,
                is_default_output=i == default_out,
            )
        )
    return out


def find_output_device(spec: str | int | None, devices: list[DeviceInfo]) -> DeviceInfo:
    """The output device for a config value: None = the default, an index, or a name (exact,
    else the first that contains it, case-insensitive). AudioError naming it when absent."""
    outputs = [d for d in devices if d.max_output_channels > 0]
    if not outputs:
        raise AudioError("no audio output device found")
    if spec is None or (isinstance(spec, str) and spec.strip() == ""):
        for d in outputs:
            if d.is_default_output:
                return d
        return outputs[0]
    names = ", ".join(f"{d.index} {d.name}" for d in outputs)
    if isinstance(spec, int) or str(spec).strip().isdigit():
        i = int(spec)
        for d in outputs:
            if d.index == i:
                return d
        raise AudioError(f"no audio output device #{i} (outputs: {names}; see `voicecoach devices`)")
    want = str(spec).strip().lower()
    for d in outputs:
        if d.name.lower() == want:
            return d
    for d in outputs:
        if want in d.name.lower():
            return d
    raise AudioError(f"no audio output device matches '{spec}' (outputs: {names}; see `voicecoach devices`)")


TAP_SNAP = 0.003
"""A callback's samples that reach the speaker within this much of where the previous ones
ended are taken to follow them exactly: the stream's DAC times jitter by a fraction of a
millisecond. A real gap (an underflow, flagged or not) is kept: the echo canceller's reference
must move with it, or it is a few milliseconds off the echo from then on."""


OUTPUT_LATENCY = 0.05
"""The output stream's buffer (s). PortAudio's "low" setting (about 9 ms through PulseAudio's ALSA
plugin) underran whenever the recogniser or the echo canceller held the interpreter for longer
than that on a slow 2-core machine, most often just as the person spoke: the coach's voice broke
up, and its echo moved against the reference (every failed run of the
real-audio room test had underruns while the coach spoke, no passing run had one;
docs/benchmarks.md). 50 ms rides over those; "stop" still clears the buffer, so at most this much
more is heard after it."""


class SoundDevicePlayer(_Timeline):
    """One long-lived PortAudio output stream whose callback plays from a buffer.

    No stream is opened per cue (that costs tens of ms, and clicks); ``play`` swaps the buffer
    (replacing what was playing) and ``stop`` clears it, so the next device period is silent.
    The stream is opened at a rate the device accepts (the one asked for, else the device's
    default, else a common rate) and every chunk is resampled to it; resampled cues are cached
    by array identity, so a repeated cached cue is resampled once.
    """

    def __init__(self, device: str | int | None = None, rate: int | None = None, *,
                 latency: str | float = OUTPUT_LATENCY, blocksize: int | None = None):
        super().__init__(time.monotonic)
        self._sd = _sounddevice()
        self.device_spec = device
        self.requested_rate = rate
        self._latency_setting = latency
        self._blocksize = blocksize
        self._buf: np.ndarray | None = None
        self._chunk: AudioChunk | None = None
        self._pos = 0
        self._buf_lock = threading.Lock()
        self.tap: deque[tuple[float, AudioChunk, int, int]] = deque(maxlen=4000)
        """What the stream actually sent out: (``time.monotonic()`` at which it reaches the
        speaker, the chunk, first sample, count; samples at ``rate``), one entry per callback.
        A late callback (an underflow) shifts what follows; the echo canceller's reference is
        built from this, not from when a cue was started."""
        self._tap_next = 0.0
        self._stream = None
        self._fault: str | None = None
        self._closing = False
        self._resampled: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.underflows = 0
        """Device periods the callback was late for (heard as a click or gap)."""
        self.device: DeviceInfo | None = None
        self.rate = 0
        self.channels = 0
        self.latency = 0.0
        """Output latency PortAudio reports for the open stream (s)."""
        self._open()

    # -- opening

    def _open(self) -> None:
        sd = self._sd
        dev = find_output_device(self.device_spec, list_devices())
        rate, channels = self._settings_for(dev)
        try:
            self._stream_clock = StreamClock()
            stream = sd.OutputStream(
                device=dev.index, samplerate=rate, channels=channels, dtype="int16",
                latency=self._latency_setting, blocksize=self._blocksize or 0,
                callback=self._callback, finished_callback=self._finished,
            )
            stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError and friends
            raise AudioError(f"cannot open audio output '{dev.name}': {_one_line(exc)}") from None
        self._stream = stream
        self.device, self.rate, self.channels = dev, rate, channels
        self.latency = float(stream.latency)
        self._fault = None
        self._closing = False

    def _settings_for(self, dev: DeviceInfo) -> tuple[int, int]:
        sd = self._sd
        rates: list[int] = []
        for r in (self.requested_rate, int(dev.default_samplerate), *COMMON_RATES):
            if r and r not in rates:
                rates.append(int(r))
        for channels in (1, 2):
            if channels > max(1, dev.max_output_channels):
                break
            for r in rates:
                try:
                    sd.check_output_settings(device=dev.index, samplerate=r, channels=channels, dtype="int16")
                except Exception:  # noqa: BLE001 - "Invalid sample rate" and friends
                    continue
                return r, channels
        raise AudioError(f"audio output '{dev.name}' accepts none of the rates {', '.join(map(str, rates))} Hz")

    def reopen(self) -> None:
        """Close the stream and open the device again (after a fault, or a device change)."""
        self._close_stream()
        try:
            self._open()
        except AudioError:
            # The device list may be stale (PortAudio scans once); a re-scan is safe when our
            # stream is closed and nothing else is found.
            self._open_after_rescan()

    def _open_after_rescan(self) -> None:
        list_devices(refresh=True)
        self._open()

    # -- the audio thread

    def _callback(self, outdata, frames, time_info, status) -> None:
        now = time.monotonic()
        if status.output_underflow:
            self.underflows += 1
        at = now + self.latency
        try:
            dac, cur = float(time_info.outputBufferDacTime), float(time_info.currentTime)
            if dac > 0.0 and cur > 0.0 and 0.0 <= dac - cur < 1.0:
                at = self._stream_clock.to_monotonic(dac, cur, now)
        except (AttributeError, TypeError):
            pass
        with self._buf_lock:
            buf, pos = self._buf, self._pos
            n = 0
            if buf is not None:
                n = min(frames, len(buf) - pos)
                outdata[:n] = buf[pos : pos + n, None]
                self._pos = pos + n
                if self._chunk is not None and n > 0:
                    t = at
                    if abs(t - self._tap_next) <= TAP_SNAP and not status.output_underflow:
                        t = self._tap_next  # the stream's samples are contiguous: timing jitter only
                    self._tap_next = t + n / self.rate
                    self.tap.append((t, self._chunk, pos, n))
                if self._pos >= len(buf):
                    self._buf = None
        if n < frames:
            outdata[n:] = 0

    def _finished(self) -> None:
        if not self._closing:
            name = self.device.name if self.device else "the audio device"
            self._fault = f"audio output '{name}' stopped (unplugged or failed); reopen it to go on"

    # -- the interface

    def play(self, chunk: AudioChunk, text: str | None = None) -> None:
        self._check()
        x = self._prepare(chunk)
        with self._buf_lock:
            self._buf = x if len(x) else None
            self._chunk = chunk
            self._pos = 0
        self._begin(len(x) / self.rate, text, self.latency)

    def stop(self) -> None:
        with self._buf_lock:
            self._buf = None
            self._pos = 0
        self._end()

    def close(self) -> None:
        self.stop()
        self._close_stream()

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._closing = True
        try:
            stream.abort()
            stream.close()
        except Exception:  # noqa: BLE001 - a vanished device cannot be closed cleanly
            pass

    def _check(self) -> None:
        if self._stream is None:
            raise AudioError("audio output is closed")
        if self._fault is None and not self._stream.active:
            name = self.device.name if self.device else "the audio device"
            self._fault = f"audio output '{name}' is not running (unplugged or failed); reopen it to go on"
        if self._fault is not None:
            raise AudioError(self._fault)

    def _prepare(self, chunk: AudioChunk) -> np.ndarray:
        key = id(chunk.samples)
        hit = self._resampled.get(key)
        if hit is not None and hit[0] is chunk.samples:
            self._resampled.move_to_end(key)
            return hit[1]
        x = resample(to_mono(chunk), self.rate).samples if chunk.frames else np.zeros(0, np.int16)
        x = np.ascontiguousarray(x, dtype=np.int16)
        self._resampled[key] = (chunk.samples, x)  # holding the array keeps its id unique
        while len(self._resampled) > 64:
            self._resampled.popitem(last=False)
        return x


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def open_player(cfg, mute: bool = False) -> tuple[Player, str | None]:
    """The speaker for a :class:`~voicecoach.config.VoiceConfig` (or a whole Config), and a
    one-time reason for the person when there is no sound: no PortAudio, no device, a device
    that is not there. Never raises for a missing sound card: the coach keeps working (printing
    its words) with a NullPlayer that keeps time. ``mute=True`` gives a NullPlayer, no reason."""
    voice_cfg = getattr(cfg, "voice", None)
    if voice_cfg is not None and hasattr(voice_cfg, "output_device"):
        cfg = voice_cfg
    if mute:
        return NullPlayer(), None
    try:
        return SoundDevicePlayer(getattr(cfg, "output_device", None)), None
    except EngineUnavailable as exc:
        reason = f"Audio output is off: {exc}. I'll print what I'd say."
    except AudioError as exc:
        msg = str(exc)
        if msg == "no audio output device found":
            reason = "Audio output is off: no sound device found. I'll print what I'd say."
        else:
            reason = f"Audio output is off: {msg}. I'll print what I'd say."
    return NullPlayer(), reason

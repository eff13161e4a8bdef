"""WAV files in and out, and the conversions every part needs (mono, 16 kHz, int16).

Reads any RIFF/WAVE the way a person might hand it over: 8/16/24/32-bit integer PCM, 32/64-bit
float, WAVE_FORMAT_EXTENSIBLE, any channel count and rate. Writes are atomic (temp file + rename),
so an interrupted render never leaves half a file.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from voicecoach.errors import AudioError
from voicecoach.types import AudioChunk

ASR_RATE = 16000
"""Every recogniser takes 16 kHz mono int16."""

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE


def decode_wav(data: bytes, name: str = "<bytes>") -> AudioChunk:
    """Decode WAV bytes to an int16 AudioChunk (channels kept)."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RF64") or data[8:12] != b"WAVE":
        raise AudioError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    pcm: bytes | None = None
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(body) < 16:
                raise AudioError(f"{name}: corrupt WAV (short fmt chunk)")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            if tag == _EXTENSIBLE and len(body) >= 26:
                (tag,) = struct.unpack("<H", body[24:26])
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            # Streams written without knowing their length carry a size of 0 or 0xFFFFFFFF.
            pcm = data[pos + 8 :] if size in (0, 0xFFFFFFFF) else body
            break
        pos += 8 + size + (size & 1)
    if fmt is None:
        raise AudioError(f"{name}: corrupt WAV (no fmt chunk)")
    if pcm is None:
        raise AudioError(f"{name}: corrupt WAV (no data chunk)")
    tag, channels, rate, bits = fmt
    if channels < 1 or rate < 1000 or rate > 384000:
        raise AudioError(f"{name}: corrupt WAV ({channels} channels at {rate} Hz)")
    samples = _decode_samples(pcm, tag, bits, name)
    frames = len(samples) // channels
    if frames == 0:
        raise AudioError(f"{name}: empty WAV (no audio frames)")
    samples = samples[: frames * channels]
    if channels > 1:
        samples = samples.reshape(frames, channels)
    return AudioChunk(rate, samples)


def _decode_samples(pcm: bytes, tag: int, bits: int, name: str) -> np.ndarray:
    if tag == _PCM and bits == 8:
        x = (np.frombuffer(pcm, dtype=np.uint8).astype(np.int16) - 128) << 8
        return x.astype(np.int16)
    if tag == _PCM and bits == 16:
        n = len(pcm) // 2
        return np.frombuffer(pcm[: n * 2], dtype="<i2").astype(np.int16)
    if tag == _PCM and bits == 24:
        n = len(pcm) // 3
        b = np.frombuffer(pcm[: n * 3], dtype=np.uint8).reshape(n, 3)
        x = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16))
        x = np.where(x & 0x800000, x - 0x1000000, x)
        return (x >> 8).astype(np.int16)
    if tag == _PCM and bits == 32:
        n = len(pcm) // 4
        return (np.frombuffer(pcm[: n * 4], dtype="<i4") >> 16).astype(np.int16)
    if tag == _FLOAT and bits in (32, 64):
        dt = "<f4" if bits == 32 else "<f8"
        size = bits // 8
        n = len(pcm) // size
        x = np.frombuffer(pcm[: n * size], dtype=dt).astype(np.float64)
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
        return float_to_int16(x)
    raise AudioError(f"{name}: unsupported WAV encoding (format {tag}, {bits}-bit)")


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """Scale floats in [-1, 1] to int16, clipping."""
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def read_wav(path: str | os.PathLike) -> AudioChunk:
    """Read a WAV file; any problem is an AudioError naming the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise AudioError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise AudioError(f"{p}: empty file")
    return decode_wav(data, str(p))


def to_mono(chunk: AudioChunk) -> AudioChunk:
    """Average the channels."""
    if chunk.channels == 1:
        return chunk
    mixed = chunk.samples.astype(np.int32).mean(axis=1)
    return AudioChunk(chunk.rate, mixed.round().astype(np.int16))


def resample(chunk: AudioChunk, rate: int) -> AudioChunk:
    """Resample mono audio to ``rate`` (windowed-sinc-free linear interpolation after a
    moving-average low-pass when downsampling: plenty for speech recognition)."""
    chunk = to_mono(chunk)
    if chunk.rate == rate or chunk.frames == 0:
        return AudioChunk(rate, chunk.samples) if chunk.rate == rate else chunk
    x = chunk.samples.astype(np.float64)
    if rate < chunk.rate:
        # Box low-pass over the decimation ratio to keep aliasing out of the speech band.
        width = int(np.ceil(chunk.rate / rate))
        if width > 1:
            kernel = np.ones(width) / width
            x = np.convolve(x, kernel, mode="same")
    n_out = int(round(chunk.frames * rate / chunk.rate))
    t_out = np.arange(n_out) * (chunk.rate / rate)
    y = np.interp(t_out, np.arange(chunk.frames), x)
    return AudioChunk(rate, np.clip(y.round(), -32768, 32767).astype(np.int16))


def to_asr(chunk: AudioChunk) -> AudioChunk:
    """16 kHz mono int16, what every recogniser takes."""
    return resample(to_mono(chunk), ASR_RATE)


def encode_wav(chunk: AudioChunk) -> bytes:
    """16-bit PCM WAV bytes."""
    pcm = chunk.to_bytes()
    channels, rate = chunk.channels, chunk.rate
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, _PCM, channels, rate, rate * channels * 2, channels * 2, 16)
    header += b"data" + struct.pack("<I", len(pcm))
    return header + pcm


def write_wav(path: str | os.PathLike, chunk: AudioChunk) -> None:
    """Write a 16-bit WAV atomically: the file appears whole or not at all."""
    atomic_write_bytes(Path(path), encode_wav(chunk))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes to a temp file beside ``path``, fsync, and rename over it."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise AudioError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise AudioError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise


def rms_db(samples: np.ndarray) -> float:
    """Root-mean-square level in dBFS (-inf for silence)."""
    if samples.size == 0:
        return float("-inf")
    r = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return 20 * np.log10(r / 32768.0) if r > 0 else float("-inf")


def onsets(chunk: AudioChunk, threshold_db: float = -40.0, min_gap: float = 0.25, frame: float = 0.005) -> list[float]:
    """Times (s) where sound starts after at least ``min_gap`` s of quiet: speech onsets."""
    mono = to_mono(chunk)
    hop = max(1, int(mono.rate * frame))
    x = mono.samples.astype(np.float64)
    n = len(x) // hop
    if n == 0:
        return []
    frames = x[: n * hop].reshape(n, hop)
    level = np.sqrt(np.mean(frames**2, axis=1))
    loud = level > 32768.0 * 10 ** (threshold_db / 20)
    out: list[float] = []
    quiet_frames = int(min_gap / frame)
    last_loud = -(10**9)
    for i, on in enumerate(loud):
        if on:
            if i - last_loud > quiet_frames:
                out.append(i * hop / mono.rate)
            last_loud = i
    return out


class StreamClock:
    """PortAudio's stream times (the moment a buffer's first sample reaches the DAC, or left the
    ADC) on ``time.monotonic()``. A callback runs late whenever Python is busy (the interpreter
    lock, another thread decoding), so ``time.monotonic()`` read inside it is late by a varying
    amount, where the stream's own times are not. The offset between the two clocks is the least
    one seen (a late reading only makes it larger), taken again when the readings stay far above
    it for a while (the stream's clock was set)."""

    REANCHOR = 0.05
    """Readings this far above the offset..."""
    REANCHOR_AFTER = 2.0
    """...for this long (s) move it."""

    def __init__(self) -> None:
        self.offset: float | None = None
        self._above_since: float | None = None

    def to_monotonic(self, stream_time: float, stream_now: float, now: float) -> float:
        """``stream_time`` on the monotonic clock, given the stream's ``stream_now`` (its current
        time in this callback) and ``now`` (``time.monotonic()`` read in it)."""
        off = now - stream_now
        if self.offset is None or off < self.offset:
            self.offset, self._above_since = off, None
        elif off - self.offset > self.REANCHOR:
            self._above_since = now if self._above_since is None else self._above_since
            if now - self._above_since > self.REANCHOR_AFTER:
                self.offset, self._above_since = off, None
        else:
            self._above_since = None
        return stream_time + self.offset

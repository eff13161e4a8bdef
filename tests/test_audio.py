"""The WAV reader: every format a person might hand over, and one-line errors for the rest."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from voicecoach.audio import read_wav, to_asr, write_wav
from voicecoach.errors import AudioError
from voicecoach.types import AudioChunk


def _wav(path, data: bytes, tag: int, channels: int, rate: int, bits: int, extensible: bool = False):
    block = channels * bits // 8
    if extensible:
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block, block, bits, 22, bits, 0)
        fmt += struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"LIST" + struct.pack("<I", 4) + b"INFO"  # an extra chunk readers must skip
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _tone(rate: int, seconds: float = 0.5, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * 440 * t)


def _encode(x: np.ndarray, kind: str) -> tuple[bytes, int, int]:
    if kind == "u8":
        return (np.round(x * 127) + 128).astype(np.uint8).tobytes(), 1, 8
    if kind == "s16":
        return (np.round(x * 32767)).astype("<i2").tobytes(), 1, 16
    if kind == "s24":
        v = np.round(x * (2**23 - 1)).astype(np.int32)
        b = v.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        return b.tobytes(), 1, 24
    if kind == "s32":
        return (np.round(x * (2**31 - 1))).astype("<i4").tobytes(), 1, 32
    if kind == "f32":
        return x.astype("<f4").tobytes(), 3, 32
    if kind == "f64":
        return x.astype("<f8").tobytes(), 3, 64
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["u8", "s16", "s24", "s32", "f32", "f64"])
@pytest.mark.parametrize("extensible", [False, True])
def test_every_sample_format_reads_to_the_same_int16(tmp_path, kind, extensible):
    x = _tone(16000)
    data, tag, bits = _encode(x, kind)
    chunk = read_wav(_wav(tmp_path / f"{kind}.wav", data, tag, 1, 16000, bits, extensible))
    assert chunk.rate == 16000 and chunk.channels == 1 and chunk.samples.dtype == np.int16
    assert chunk.frames == len(x)
    tol = 300 if kind == "u8" else 2
    assert np.max(np.abs(chunk.samples.astype(int) - np.round(x * 32767).astype(int))) <= tol


def test_stereo_is_averaged_to_mono(tmp_path):
    left, right = _tone(16000, amp=0.5), np.zeros(8000)
    inter = np.stack([left, right], axis=1).reshape(-1)
    data, tag, bits = _encode(inter, "s16")
    chunk = read_wav(_wav(tmp_path / "st.wav", data, tag, 2, 16000, bits))
    assert chunk.channels == 2 and chunk.frames == 8000
    mono = to_asr(chunk)
    assert mono.channels == 1
    assert abs(np.abs(mono.samples).max() - 0.25 * 32767) < 200


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_any_rate_is_resampled_to_16k_keeping_duration_and_pitch(tmp_path, rate):
    x = _tone(rate, seconds=1.0)
    data, tag, bits = _encode(x, "s16")
    asr = to_asr(read_wav(_wav(tmp_path / f"{rate}.wav", data, tag, 1, rate, bits)))
    assert asr.rate == 16000 and abs(asr.frames - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(asr.samples.astype(float)))
    assert abs(np.argmax(spectrum) * 16000 / asr.frames - 440) < 3


def test_round_trip_through_write_wav(tmp_path):
    chunk = AudioChunk(16000, (np.round(_tone(16000) * 32767)).astype(np.int16))
    write_wav(tmp_path / "out.wav", chunk)
    back = read_wav(tmp_path / "out.wav")
    assert np.array_equal(back.samples, chunk.samples)


def test_ctrl_c_while_a_wav_is_written_leaves_the_old_file_whole_and_no_part(tmp_path, monkeypatch):
    import os

    old = AudioChunk(16000, np.zeros(1600, np.int16))
    write_wav(tmp_path / "out.wav", old)

    def interrupted(fd):  # the disk flush is where a large write spends its time
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_wav(tmp_path / "out.wav", AudioChunk(16000, (np.round(_tone(16000) * 32767)).astype(np.int16)))
    monkeypatch.undo()
    assert [f.name for f in tmp_path.iterdir()] == ["out.wav"]
    assert np.array_equal(read_wav(tmp_path / "out.wav").samples, old.samples)


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("empty.wav", b"", "empty"),
        ("noframes.wav", None, "empty WAV"),
        ("random.wav", bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8)), "not a WAV"),
        ("text.wav", b"hello, this is not audio at all\n" * 10, "not a WAV"),
        ("nofmt.wav", b"RIFF\x10\x00\x00\x00WAVEdata\x04\x00\x00\x00\x00\x00\x00\x00", "no fmt"),
        ("nodata.wav", b"RIFF\x1c\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00\x00}\x00\x00\x02\x00\x10\x00", "no data"),
        ("truncfmt.wav", b"RIFF\x0c\x00\x00\x00WAVEfmt \x04\x00\x00\x00\x01\x00", "fmt"),
    ],
)
def test_bad_files_give_one_line_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        _wav(path, b"", 1, 1, 16000, 16)
    else:
        path.write_bytes(content)
    with pytest.raises(AudioError) as err:
        read_wav(path)
    text = str(err.value)
    assert str(path) in text and message in text and "\n" not in text


def test_unsupported_encoding_and_missing_file(tmp_path):
    with pytest.raises(AudioError, match="unsupported"):
        read_wav(_wav(tmp_path / "alaw.wav", b"\x00" * 100, 6, 1, 8000, 8))
    with pytest.raises(AudioError, match="missing.wav"):
        read_wav(tmp_path / "missing.wav")

"""Piper: neural voices (VITS exported to ONNX), the optional extra ``piper-tts``. A voice is a
``NAME.onnx`` model with its ``NAME.onnx.json`` config, fetched once with ``voicecoach models
download NAME`` into the models directory."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from voicecoach.errors import EngineUnavailable, VoicecoachError
from voicecoach.tts.base import CachedVoice
from voicecoach.types import AudioChunk

INSTALL_HINT = "pip install 'voicecoach[piper]', then voicecoach models download en_US-lessac-medium"
NATURAL_WPM = 160.0
"""Words per minute taken as Piper's length_scale 1.0."""


def voice_files(dirs: list[Path]) -> dict[str, Path]:
    """Installed Piper voices (name -> .onnx path) in the given directories; a voice counts only
    with its .onnx.json beside it. The first directory wins on a name clash."""
    found: dict[str, Path] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for onnx in sorted(d.rglob("*.onnx")):
            name = onnx.name[: -len(".onnx")]
            if name not in found and onnx.with_name(onnx.name + ".json").is_file():
                found[name] = onnx
    return found


def _installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("piper") is not None
    except (ImportError, ValueError):
        return False


def available(dirs: list[Path]) -> str | None:
    """None when piper-tts and a voice are installed, else why not (with the install hint)."""
    if not _installed():
        return f"piper-tts is not installed ({INSTALL_HINT})"
    if not voice_files(dirs):
        return "no Piper voice is downloaded (voicecoach models download en_US-lessac-medium)"
    return None


class PiperVoice(CachedVoice):
    """A Piper voice in-process (onnxruntime). The rate goes to ``length_scale``; pitch is
    shifted by the shared resampling path."""

    name = "piper"
    rate = 22050
    native_pitch = False

    def __init__(self, wpm: int = 160, volume: float = 1.0, voice: str | None = None,
                 dirs: list[Path] | None = None, cache_size: int = 512):
        super().__init__(wpm, volume, voice, cache_size)
        if not _installed():
            raise EngineUnavailable(f"piper-tts is not installed ({INSTALL_HINT})")
        files = voice_files(dirs or [])
        if not files:
            raise EngineUnavailable("no Piper voice is downloaded (voicecoach models download en_US-lessac-medium)")
        name = _pick(list(files), voice)
        self.piper_voice = name
        try:
            from piper import PiperVoice as _Piper  # imported here: onnxruntime loads with it

            model = files[name]
            self._voice = _Piper.load(str(model), config_path=str(model.with_name(model.name + ".json")))
        except Exception as exc:  # noqa: BLE001 - any load failure means this engine is unusable
            raise EngineUnavailable(f"cannot load the Piper voice {name}: {exc}") from None
        self.rate = int(getattr(getattr(self._voice, "config", None), "sample_rate", 22050))
        self._lock = threading.Lock()

    @property
    def voice_name(self) -> str:
        return self.piper_voice

    def _render(self, text: str, wpm: int, voice: str | None, pitch: float = 1.0) -> AudioChunk:
        length_scale = max(0.3, min(3.0, NATURAL_WPM / max(wpm, 1)))
        with self._lock:
            try:
                pcm = self._synthesize(text, length_scale)
            except Exception as exc:  # noqa: BLE001 - onnxruntime and phonemizer errors vary
                raise VoicecoachError(f"Piper failed: {exc}") from None
        return AudioChunk(self.rate, pcm)

    def _synthesize(self, text: str, length_scale: float) -> np.ndarray:
        v = self._voice
        try:
            from piper import SynthesisConfig  # piper-tts 1.3 and later
        except ImportError:
            # piper-tts 1.2: raw 16-bit PCM bytes per sentence.
            raw = b"".join(v.synthesize_stream_raw(text, length_scale=length_scale, sentence_silence=0.3))
            return np.frombuffer(raw, dtype=np.int16).copy()
        parts = [np.frombuffer(c.audio_int16_bytes, dtype=np.int16)
                 for c in v.synthesize(text, syn_config=SynthesisConfig(length_scale=length_scale))]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def _pick(names: list[str], wanted: str | None) -> str:
    if wanted:
        w = wanted.lower()
        for n in names:
            if n.lower() == w:
                return n
        for n in names:
            if w in n.lower():
                return n
    preferred = [n for n in names if n.startswith("en_US-lessac")] + [n for n in names if n.startswith("en_")]
    return (preferred or names)[0]

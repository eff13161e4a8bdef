"""espeak-ng as a subprocess (``--stdout``): the formant voice, always there on Debian, the last
fallback. No Python binding, nothing to hang in-process."""

from __future__ import annotations

import shutil
import subprocess

from voicecoach.audio import decode_wav, to_mono
from voicecoach.errors import EngineUnavailable, VoicecoachError
from voicecoach.tts.base import CachedVoice
from voicecoach.types import AudioChunk

INSTALL_HINT = "sudo apt install espeak-ng"


def find_espeak() -> str | None:
    """Path of espeak-ng (or classic espeak), or None."""
    return shutil.which("espeak-ng") or shutil.which("espeak")


class EspeakVoice(CachedVoice):
    """``espeak-ng --stdout -b 1 -s WPM -p PITCH [-v VOICE]``, text on stdin; 22 050 Hz."""

    name = "espeak"
    rate = 22050

    def __init__(self, wpm: int = 160, volume: float = 1.0, voice: str | None = None,
                 binary: str | None = None, timeout: float = 10.0, cache_size: int = 512):
        super().__init__(wpm, volume, voice, cache_size)
        found = binary or find_espeak()
        if not found:
            raise EngineUnavailable(f"espeak-ng is not installed ({INSTALL_HINT})")
        self.binary: str = found
        self.timeout = timeout
        self._bad_voices: set[str] = set()

    @property
    def voice_name(self) -> str:
        return self.voice if self.voice and self.voice not in self._bad_voices else "en"

    def _render(self, text: str, wpm: int, voice: str | None, pitch: float = 1.0) -> AudioChunk:
        if voice and voice not in self._bad_voices:
            try:
                return self._run(text, wpm, voice, pitch)
            except VoicecoachError:
                # An unknown voice name must not silence the coach: fall back to the default.
                self._bad_voices.add(voice)
        return self._run(text, wpm, None, pitch)

    def _run(self, text: str, wpm: int, voice: str | None, pitch: float) -> AudioChunk:
        cmd = [self.binary, "--stdout", "-b", "1", "-s", str(wpm)]
        if pitch != 1.0:
            cmd += ["-p", str(int(min(99, max(0, round(50 * pitch)))))]
        if voice:
            cmd += ["-v", voice]
        try:
            proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise VoicecoachError(f"espeak-ng took longer than {self.timeout:g} s to speak {text[:40]!r}") from None
        except OSError as exc:
            raise VoicecoachError(f"cannot run {self.binary}: {exc.strerror or exc}") from None
        if proc.returncode != 0 or len(proc.stdout) <= 44:
            msg = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no audio produced"])[0]
            raise VoicecoachError(f"espeak-ng failed: {msg}")
        return to_mono(decode_wav(proc.stdout, "espeak-ng output"))


def list_voices() -> list[str]:
    """The English voices espeak-ng has (its default first)."""
    binary = find_espeak()
    if not binary:
        return []
    try:
        proc = subprocess.run([binary, "--voices=en"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ["en"]
    names = ["en"]
    for line in proc.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("en") and parts[1] not in names:
            names.append(parts[1])
    return names

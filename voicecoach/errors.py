"""Every error voicecoach raises for a user's mistake derives from VoicecoachError.

The CLI prints ``str(error)`` as one line and exits non-zero; no traceback reaches the person.
"""

from __future__ import annotations


class VoicecoachError(Exception):
    """A problem the person can fix; ``str()`` is a one-line message."""


class LocatedError(VoicecoachError):
    """An error at a place in a file: ``file:line: message``."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        # One line, whatever a file put in the key or value the message quotes.
        self.message = message.replace("\r", "\\r").replace("\n", "\\n")
        self.file = file
        self.line = line
        super().__init__(self.format())

    def format(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}"


class ConfigError(LocatedError):
    """A bad value in config.yaml (names file, key and line)."""


class ScriptError(LocatedError):
    """A problem in a script file (names file and line)."""


class AudioError(VoicecoachError):
    """Unreadable audio, or an audio device that failed."""


class EngineUnavailable(VoicecoachError):
    """A speech engine whose package or model is missing; the message says what to install."""

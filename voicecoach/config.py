"""Layered configuration: the packaged defaults, with the user's config.yaml merged over them,
parsed into typed dataclasses. A bad value names file, key and line."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from voicecoach.errors import ConfigError
from voicecoach.yamlio import LDict, line_of, load_yaml, read_yaml_file


@dataclass
class VoiceConfig:
    engine: str = "auto"
    """auto | pyttsx3 | festival | piper | espeak | none."""
    rate: int = 160
    """Words per minute at a script rate of 1.0."""
    volume: float = 0.9
    name: str | None = None
    """The engine's voice: a voice id or part of its name; None = the engine's best."""
    voice: str | None = None
    """The older spelling of ``name``."""
    output_device: str | int | None = None


@dataclass
class AsrConfig:
    engine: str = "auto"
    """auto | vosk | pocketsphinx | whisper."""
    vosk_model: str | None = None
    whisper_model: str | None = None
    language: str = "en"


@dataclass
class AudioConfig:
    input_device: str | int | None = None
    wake_phrase: str | None = None
    command_silence: float = 0.3
    request_silence: float = 0.5
    dictation_silence: float = 1.2
    max_utterance: float = 15.0
    echo_cancel: str = "auto"
    """auto | webrtc | speex | nlms | off (voicecoach/aec.py)."""


@dataclass
class DialogueConfig:
    answer_timeout: float = 25.0
    intent_threshold: float = 0.55


@dataclass
class JournalConfig:
    enabled: bool = True


@dataclass
class LoggingConfig:
    debug: bool = False


@dataclass
class Config:
    region: str = "auto"
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    dialogue: DialogueConfig = field(default_factory=DialogueConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    home: Path = field(default_factory=lambda: home_dir())
    """The data directory (journal, user scripts, models)."""


_CHOICES = {
    ("voice", "engine"): {"auto", "pyttsx3", "festival", "piper", "espeak", "none"},
    ("asr", "engine"): {"auto", "vosk", "pocketsphinx", "whisper"},
    ("audio", "echo_cancel"): {"auto", "webrtc", "speex", "nlms", "off"},
}
_RANGES = {
    ("voice", "rate"): (60, 400),
    ("voice", "volume"): (0.0, 1.0),
    ("audio", "command_silence"): (0.05, 5.0),
    ("audio", "request_silence"): (0.05, 5.0),
    ("audio", "dictation_silence"): (0.1, 10.0),
    ("audio", "max_utterance"): (1.0, 120.0),
    ("dialogue", "answer_timeout"): (1.0, 3600.0),
    ("dialogue", "intent_threshold"): (0.0, 1.0),
}


def home_dir() -> Path:
    """The data directory: $VOICECOACH_HOME, else the platform's user data directory."""
    env = os.environ.get("VOICECOACH_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("voicecoach", appauthor=False))


def ensure_home(home: Path) -> Path:
    """Create the data directory private to the user (0700)."""
    home.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(home, 0o700)
    except OSError:
        pass
    return home


def data_path(name: str) -> Path:
    """A file shipped in voicecoach/data/."""
    return Path(str(resources.files("voicecoach") / "data" / name))


def load_config(home: Path | None = None, user_file: Path | None = None) -> Config:
    """Defaults merged with ``home/config.yaml`` (or ``user_file``)."""
    home = home or home_dir()
    default_file = data_path("config.yaml")
    cfg = Config(home=home)
    _apply(cfg, read_yaml_file(default_file, ConfigError), str(default_file), ())
    path = user_file or home / "config.yaml"
    if path.exists():
        data = read_yaml_file(path, ConfigError)
        if data is not None:
            _apply(cfg, data, str(path), ())
    return cfg


def config_from_text(text: str, name: str = "config.yaml", home: Path | None = None) -> Config:
    """Defaults merged with the given YAML text (for tests and tools)."""
    cfg = load_config(home=home or home_dir(), user_file=Path("/nonexistent/config.yaml"))
    data = load_yaml(text, name, ConfigError)
    if data is not None:
        _apply(cfg, data, name, ())
    return cfg


def _apply(target: Any, data: Any, file: str, path: tuple[str, ...], line: int | None = None) -> None:
    where = ".".join(path) or "top level"
    if not isinstance(data, dict):
        # A scalar knows no line of its own: name the key's line (or the first line).
        raise ConfigError(f"{where}: expected a mapping of settings", file, line_of(data) or line or 1)
    known = {f.name: f for f in fields(target) if f.name != "home"}
    for key, value in data.items():
        line = line_of(data, key) if isinstance(data, LDict) else None
        dotted = ".".join(path + (str(key),))
        if key not in known:
            hint = ", ".join(sorted(known))
            raise ConfigError(f"unknown key '{dotted}' (known here: {hint})", file, line)
        current = getattr(target, key)
        if is_dataclass(current):
            if value is None:
                continue
            _apply(current, value, file, path + (key,), line)
            continue
        setattr(target, key, _check(path + (key,), value, current, file, line))


def _check(path: tuple[str, ...], value: Any, default: Any, file: str, line: int | None) -> Any:
    dotted = ".".join(path)
    kind = type(default)
    nullable = path[-1] in {"voice", "name", "output_device", "vosk_model", "whisper_model", "input_device", "wake_phrase"}
    if value is None:
        if nullable:
            return None
        raise ConfigError(f"'{dotted}' needs a value", file, line)
    if path[-1] in {"output_device", "input_device"}:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ConfigError(f"'{dotted}' must be a device name or index, not {value!r}", file, line)
        return value
    if nullable or kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{dotted}' must be text, not {value!r}", file, line)
        choices = _CHOICES.get((path[0], path[1])) if len(path) == 2 else None
        if choices and value not in choices:
            raise ConfigError(f"'{dotted}' must be one of {', '.join(sorted(choices))}, not {value!r}", file, line)
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{dotted}' must be true or false, not {value!r}", file, line)
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{dotted}' must be a number, not {value!r}", file, line)
        lo, hi = _RANGES.get((path[0], path[1]), (float("-inf"), float("inf"))) if len(path) == 2 else (float("-inf"), float("inf"))
        if not lo <= value <= hi:
            raise ConfigError(f"'{dotted}' must be between {lo:g} and {hi:g}, not {value!r}", file, line)
        return kind(value) if kind is float else int(value)
    return value

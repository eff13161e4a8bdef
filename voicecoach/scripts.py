"""Scripts: loading files, the library of built-in and user scripts, and validation. Loading
never raises anything but ScriptError, and the validator collects every problem as
``file:line: message``. The model is in :mod:`voicecoach.script_model`, the parser in
:mod:`voicecoach.script_parser`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from voicecoach.config import data_path
from voicecoach.errors import ScriptError
from voicecoach.script_model import (
    LISTENING_KINDS,
    NAME,
    PROTECTED,
    REF,
    SCRIPT_ID,
    TEXT_REF,
    Condition,
    Option,
    Param,
    PhaseSpec,
    Script,
    ScriptVoice,
    Step,
    StepKind,
)
from voicecoach.script_parser import parse_script
from voicecoach.yamlio import load_yaml

__all__ = ["LISTENING_KINDS", "NAME", "PROTECTED", "REF", "SCRIPT_ID", "TEXT_REF", "Condition", "Library",
           "Option", "Param", "PhaseSpec", "Script", "ScriptVoice", "Step", "StepKind", "builtin_dir",
           "load_script_file", "load_script_text", "parse_script", "validate_files"]


def load_script_text(text: str, file: str) -> tuple[Script | None, list[ScriptError]]:
    try:
        data = load_yaml(text, file, ScriptError)
    except ScriptError as exc:
        return None, [exc]
    return parse_script(data, file)


def load_script_file(path: Path) -> tuple[Script | None, list[ScriptError]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [ScriptError("not a UTF-8 text file", str(path))]
    except OSError as exc:
        return None, [ScriptError(f"cannot read: {exc.strerror or exc}", str(path))]
    return load_script_text(text, str(path))


def builtin_dir() -> Path:
    return data_path("scripts")


class Library:
    """Built-in scripts with the user's scripts laid over them."""

    def __init__(self, scripts: dict[str, Script], problems: list[ScriptError]):
        self.scripts = scripts
        self.problems = problems
        """Problems in user files (those files are skipped, never fatal)."""

    @classmethod
    def load(cls, home: Path | None = None) -> Library:
        scripts: dict[str, Script] = {}
        problems: list[ScriptError] = []
        for path in sorted(builtin_dir().glob("*.yaml")):
            script, errs = load_script_file(path)
            if script is None:
                # A broken built-in is a bug: surface it loudly.
                raise errs[0]
            scripts[script.id] = script
        if home is not None and (home / "scripts").is_dir():
            for path in sorted((home / "scripts").glob("*.y*ml")):
                script, errs = load_script_file(path)
                if script is None:
                    problems.extend(errs)
                    continue
                if script.id in PROTECTED:
                    problems.append(ScriptError(f"'{script.id}' is built in and cannot be replaced; file ignored", str(path), 1))
                    continue
                scripts[script.id] = script
        lib = cls(scripts, problems)
        for s in list(scripts.values()):
            errs = lib.check_starts(s)
            if errs and s.file.startswith(str(builtin_dir())):
                raise errs[0]
            if errs:
                problems.extend(errs)
                del scripts[s.id]
        return lib

    def check_starts(self, script: Script) -> list[ScriptError]:
        out = []
        for step in script.steps:
            for opt in step.options:
                if opt.start and opt.start not in self.scripts:
                    out.append(ScriptError(f"option starts unknown script '{opt.start}'", script.file, step.line))
        return out

    def get(self, ref: str) -> Script:
        """A script by id, or by the path of a YAML file."""
        if ref in self.scripts:
            return self.scripts[ref]
        if ref.endswith((".yaml", ".yml")) or "/" in ref:
            path = Path(ref)
            if not path.exists():
                raise ScriptError("no such script file", ref)
            script, errs = load_script_file(path)
            if script is None:
                raise errs[0]
            return script
        known = ", ".join(sorted(self.scripts))
        raise ScriptError(f"unknown script '{ref}' (known: {known})", None)

    def for_intent(self, intent: str, slots: dict[str, Any] | None = None) -> Script | None:
        """The script an intent starts. A script that declares slots starts only when they
        were said (``breathe`` + pattern 478 → breathing-478); one without is the default."""
        slots = slots or {}
        specific = [s for s in self.scripts.values()
                    if intent in s.intents and s.slots and all(slots.get(k) == v for k, v in s.slots.items())]
        if specific:
            return specific[0]
        general = [s for s in self.scripts.values() if intent in s.intents and not s.slots]
        return general[0] if general else None


def validate_files(paths: list[Path], library: Library | None = None) -> list[ScriptError]:
    """Every problem in the given files, as ScriptErrors naming file:line."""
    problems: list[ScriptError] = []
    for path in paths:
        script, errs = load_script_file(Path(path))
        problems.extend(errs)
        if script is not None and library is not None:
            problems.extend(library.check_starts(script))
    return problems

"""The script format's fields: key sets, and the readers of values (texts, numbers, flags,
conditions, voice, parameters, what a question expects) that collect every problem."""

from __future__ import annotations

import re
from typing import Any

from voicecoach.errors import ScriptError
from voicecoach.script_model import (
    NAME,
    REF,
    Condition,
    Param,
    ScriptVoice,
    StepKind,
    Value,
)
from voicecoach.yamlio import line_of


class _Problems:
    def __init__(self, file: str):
        self.file = file
        self.items: list[ScriptError] = []

    def add(self, message: str, line: int | None) -> None:
        self.items.append(ScriptError(message, self.file, line))


_TOP = {
    "id", "title", "description", "source", "techniques", "intents", "slots", "voice", "params",
    "journal", "bedtime", "steps", "follow_up",
}
_COMMON = {"id", "when", "pause", "voice"}
_KEYS: dict[StepKind, set[str]] = {
    StepKind.SAY: set(),
    StepKind.PAUSE: set(),
    StepKind.BREATHE: {"cycles", "minutes", "counting"},
    StepKind.ASK: {"as", "timeout", "reprompt", "optional", "mode", "expects", "replies", "again"},
    StepKind.RATE: {"as", "timeout", "reprompt", "optional", "scale"},
    StepKind.COLLECT: {"as", "count", "timeout", "encourage", "done"},
    StepKind.CHOOSE: {"as", "options", "timeout", "default", "reprompt", "expects"},
    StepKind.NOTICE: {"patterns", "as", "none"},
    StepKind.WAIT: {"checkin"},
    StepKind.SAVE: set(),
    StepKind.GOTO: {"times"},
    StepKind.END: set(),
}
_OPTION_KEYS = {"match", "intent", "goto", "start", "end", "say", "label"}
PATTERN_SETS = ("thinking_traps", "core_beliefs")


def _str_list(value: Any, key: str, data: Any, pr: _Problems) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        pr.add(f"'{key}' must be a list of names", line_of(data, key))
        return []
    return list(value)


_VOICE_RANGES = {"rate": (0.3, 2.5), "volume": (0.05, 1.5), "pitch": (0.5, 2.0),
                 "sentence_pause": (0.0, 5.0), "fade": (0.0, 1.0)}


def _parse_voice(value: Any, data: Any, pr: _Problems, where: str = "voice") -> ScriptVoice:
    keys = ("rate", "volume", "pitch", "sentence_pause", "fade", "voice")
    if value is None:
        return ScriptVoice()
    if not isinstance(value, dict):
        pr.add(f"'{where}' must be a mapping with {', '.join(keys)}", line_of(data, "voice"))
        return ScriptVoice()
    out: dict[str, Any] = {}
    for key, v in value.items():
        line = line_of(value, key)
        if key in _VOICE_RANGES:
            lo, hi = _VOICE_RANGES[key]
            what = "seconds" if key == "sentence_pause" else "a fraction" if key == "fade" else "a multiplier"
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                pr.add(f"{where}.{key} must be a number from {lo} to {hi} ({what})", line)
            else:
                out[key] = float(v)
        elif key == "voice":
            if v is not None and not isinstance(v, str):
                pr.add(f"{where}.voice must be a voice name", line)
            else:
                out[key] = v
        else:
            pr.add(f"unknown voice setting '{key}' ({', '.join(keys)})", line)
    return ScriptVoice(**out)


def _parse_params(value: Any, data: Any, pr: _Problems) -> dict[str, Param]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        pr.add("'params' must be a mapping of name: default", line_of(data, "params"))
        return {}
    out: dict[str, Param] = {}
    for name, spec in value.items():
        line = line_of(value, name)
        if not isinstance(name, str) or not NAME.match(name):
            pr.add(f"parameter name {name!r} must be lower_case", line)
            continue
        if isinstance(spec, dict):
            unknown = set(spec) - {"default", "min", "max", "recall", "help"}
            for k in unknown:
                pr.add(f"parameter '{name}': unknown key '{k}' (default, min, max, recall, help)", line_of(spec, k))
            if "default" not in spec:
                pr.add(f"parameter '{name}' needs a default", line)
                continue
            default = spec["default"]
            lo, hi = spec.get("min"), spec.get("max")
            for k, v in (("min", lo), ("max", hi)):
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                    pr.add(f"parameter '{name}': {k} must be a number", line_of(spec, k))
            recall = spec.get("recall")
            if recall is not None and (not isinstance(recall, str) or recall.count(".") != 1):
                pr.add(f"parameter '{name}': recall must be KIND.FIELD", line_of(spec, "recall"))
                recall = None
            param = Param(name, default, lo if isinstance(lo, (int, float)) else None,
                          hi if isinstance(hi, (int, float)) else None, recall, str(spec.get("help", "")))
        else:
            param = Param(name, spec)
        if not isinstance(param.default, (bool, int, float, str)):
            pr.add(f"parameter '{name}': the default must be a number, true/false or text", line)
            continue
        out[name] = param
    return out


def _texts(value: Any, what: str, line: int | None, pr: _Problems, required: bool = True) -> tuple[str, ...]:
    if value is None:
        if required:
            pr.add(f"{what} needs text", line)
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        pr.add(f"{what} must be text or a list of texts", line)
        return ()
    return tuple(v.strip() for v in value)


def _number(value: Any, what: str, line: int | None, params: dict[str, Param], pr: _Problems,
            lo: float = 0.0, hi: float = 1e6, allow_none: bool = False) -> Value:
    if value is None:
        if not allow_none:
            pr.add(f"{what} needs a number", line)
        return None
    if isinstance(value, str):
        m = REF.match(value.strip())
        if not m:
            pr.add(f"{what} must be a number or \"{{parameter}}\", not {value!r}", line)
            return None
        ref = m.group(1)
        if ref not in params:
            pr.add(f"{what} refers to undeclared parameter '{ref}'", line)
            return None
        default = params[ref].default
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            pr.add(f"{what} refers to parameter '{ref}', which is not a number", line)
            return None
        return "{" + ref + "}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        pr.add(f"{what} must be a number, not {value!r}", line)
        return None
    if not lo <= value <= hi:
        pr.add(f"{what} must be between {lo:g} and {hi:g}, not {value}", line)
        return None
    return value


def _flag(value: Any, what: str, line: int | None, params: dict[str, Param], pr: _Problems) -> Value:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        m = REF.match(value.strip())
        if m and m.group(1) in params:
            return "{" + m.group(1) + "}"
        if m:
            pr.add(f"{what} refers to undeclared parameter '{m.group(1)}'", line)
            return False
    pr.add(f"{what} must be true, false or \"{{parameter}}\"", line)
    return False


def _parse_when(value: Any, line: int | None, pr: _Problems) -> Condition | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        cmp = re.fullmatch(r"([a-z_][a-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*([a-z_][a-z0-9_]*)", text)
        if cmp:
            return Condition(cmp.group(1), op=cmp.group(2), other=cmp.group(3))
        negate = text.startswith("not ")
        name = text[4:].strip() if negate else text
        if not NAME.match(name):
            pr.add(f"when: {value!r} must be a name, 'not name' or a comparison 'a < b'", line)
            return None
        return Condition(name, negate)
    if isinstance(value, dict) and len(value) == 1:
        (name, vals), = value.items()
        if not isinstance(name, str) or not NAME.match(name):
            pr.add(f"when: {name!r} must be a name", line)
            return None
        vals = tuple(vals) if isinstance(vals, list) else (vals,)
        return Condition(name, False, vals)
    pr.add("when: must be 'name', 'not name' or {name: value}", line)
    return None


_ASK_EXPECTS = {"free_text", "kind_words", "yes_no", "safety", "risk"}
_CHOOSE_EXPECTS = {"choice", "yes_no"}


def _parse_expects(value: Any, kind: StepKind, line: int | None, pr: _Problems) -> str | None:
    from voicecoach.answers import READINGS

    allowed = _ASK_EXPECTS if kind == StepKind.ASK else _CHOOSE_EXPECTS
    if value not in allowed or value not in READINGS:
        pr.add(f"expects must be one of {', '.join(sorted(allowed))} for {kind.value}", line)
        return None
    return str(value)


def _parse_replies(raw: dict, expects: str, pr: _Problems) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    from voicecoach.answers import READINGS

    readings = READINGS.get(expects, ())
    replies: dict[str, tuple[str, ...]] = {}
    value = raw.get("replies")
    if value is not None:
        if not isinstance(value, dict):
            pr.add("replies must map a reading to what to say, e.g. {unkind: ...}", line_of(raw, "replies"))
        else:
            for reading, text in value.items():
                if reading not in readings:
                    pr.add(f"replies: {reading!r} is not a reading of {expects} answers ({', '.join(readings)})",
                           line_of(value, reading))
                    continue
                replies[reading] = _texts(text, f"replies.{reading}", line_of(value, reading), pr)
    again = raw.get("again", [])
    if isinstance(again, str):
        again = [again]
    if not isinstance(again, list) or not all(isinstance(a, str) for a in again):
        pr.add("again must be a list of readings", line_of(raw, "again"))
        return replies, ()
    for a in again:
        if a not in readings:
            pr.add(f"again: {a!r} is not a reading of {expects} answers ({', '.join(readings)})", line_of(raw, "again"))
    return replies, tuple(a for a in again if a in readings)

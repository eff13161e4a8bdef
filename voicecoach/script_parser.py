"""Parsing and validating a script: every problem is collected as ``file:line: message``."""

from __future__ import annotations

import re
from typing import Any

from voicecoach.errors import ScriptError
from voicecoach.followup import check_follow_up, parse_follow_up
from voicecoach.script_fields import (
    _COMMON,
    _KEYS,
    _OPTION_KEYS,
    _TOP,
    PATTERN_SETS,
    _flag,
    _number,
    _parse_expects,
    _parse_params,
    _parse_replies,
    _parse_voice,
    _parse_when,
    _Problems,
    _str_list,
    _texts,
)
from voicecoach.script_model import (
    DEFAULT_CUES,
    LISTENING_KINDS,
    NAME,
    REF,
    SCRIPT_ID,
    TEXT_REF,
    Option,
    Param,
    PhaseSpec,
    Script,
    Step,
    StepKind,
)
from voicecoach.tts.base import estimate_seconds
from voicecoach.tts.delivery import MAX_SPEEDUP
from voicecoach.types import Phase
from voicecoach.yamlio import line_of


def parse_script(data: Any, file: str) -> tuple[Script | None, list[ScriptError]]:
    """Build a Script from loaded YAML, collecting every problem. The script is None when a
    problem makes it unusable."""
    pr = _Problems(file)
    if not isinstance(data, dict):
        pr.add("a script must be a mapping with id, title, description, source and steps", line_of(data) or 1)
        return None, pr.items
    for key in data:
        if key not in _TOP:
            pr.add(f"unknown field '{key}' (fields: {', '.join(sorted(_TOP))})", line_of(data, key))
    for key in ("id", "title", "description", "source"):
        if key not in data:
            pr.add(f"missing required field '{key}'", line_of(data))
        elif not isinstance(data[key], str) or not data[key].strip():
            pr.add(f"'{key}' must be non-empty text", line_of(data, key))
    sid = data.get("id") if isinstance(data.get("id"), str) else ""
    if sid and not SCRIPT_ID.match(sid):
        pr.add(f"id '{sid}' must be lower-case words joined by '-'", line_of(data, "id"))

    params = _parse_params(data.get("params"), data, pr)
    voice = _parse_voice(data.get("voice"), data, pr)
    techniques = _str_list(data.get("techniques"), "techniques", data, pr)
    intents = _str_list(data.get("intents"), "intents", data, pr)
    slots = data.get("slots") or {}
    if not isinstance(slots, dict):
        pr.add("'slots' must be a mapping", line_of(data, "slots"))
        slots = {}
    journal = data.get("journal")
    if journal is not None and (not isinstance(journal, str) or not NAME.match(journal)):
        pr.add("'journal' must be an entry kind like thought_record", line_of(data, "journal"))
        journal = None
    bedtime = data.get("bedtime", False)
    if not isinstance(bedtime, bool):
        pr.add("'bedtime' must be true or false", line_of(data, "bedtime"))
        bedtime = False

    raw_steps = data.get("steps")
    steps: list[Step] = []
    if raw_steps is None:
        pr.add("missing required field 'steps'", line_of(data))
    elif not isinstance(raw_steps, list) or not raw_steps:
        pr.add("'steps' must be a non-empty list", line_of(data, "steps"))
    else:
        for i, raw in enumerate(raw_steps):
            line = line_of(raw_steps, i)
            step = _parse_step(raw, i, line, params, pr)
            # An unusable step keeps its place, so later checks still name the right lines.
            steps.append(step if step is not None else Step(StepKind.PAUSE, i, line))
    script = Script(
        id=sid or "?",
        title=str(data.get("title", "")),
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
        steps=steps,
        techniques=tuple(techniques),
        intents=tuple(intents),
        slots=dict(slots),
        voice=voice,
        params=params,
        journal=journal,
        bedtime=bedtime,
        file=file,
        follow_up=parse_follow_up(data.get("follow_up"), pr.add),
    )
    if steps:
        _check_flow(script, pr)
    if script.follow_up is not None:
        check_follow_up(script.follow_up, journal, (s.name for s in steps if s.name), pr.add)
    usable = not pr.items
    return (script if usable else None), pr.items


def _parse_step(raw: Any, i: int, line: int | None, params: dict[str, Param], pr: _Problems) -> Step | None:
    if raw == "end":
        return Step(StepKind.END, i, line)
    if not isinstance(raw, dict):
        pr.add(f"step {i + 1} must be a mapping like '- say: text' (or the word end)", line)
        return None
    kinds = [k for k in raw if k in StepKind._value2member_map_]
    if len(kinds) > 1 and "pause" in kinds:
        kinds.remove("pause")  # with another kind, pause is the silence after it
    if len(kinds) != 1:
        if not kinds:
            unknown = [k for k in raw if k not in _COMMON and not any(k in s for s in _KEYS.values())]
            what = f"unknown step kind '{unknown[0]}'" if unknown else "no step kind"
            pr.add(f"step {i + 1}: {what} (kinds: {', '.join(k.value for k in StepKind)})", line)
        else:
            pr.add(f"step {i + 1}: one kind per step, found {', '.join(kinds)}", line)
        return None
    kind = StepKind(kinds[0])
    arg = raw[kinds[0]]
    kline = line_of(raw, kinds[0])
    allowed = _COMMON | _KEYS[kind] | {kind.value}
    if kind == StepKind.PAUSE:
        allowed = allowed - {"pause"} | {"pause"}
    for key in raw:
        if key not in allowed:
            pr.add(f"step {i + 1} ({kind.value}): unknown key '{key}' (allowed: {', '.join(sorted(allowed - {kind.value}))})",
                   line_of(raw, key))
    step = Step(kind, i, line)
    sid = raw.get("id")
    if sid is not None:
        if not isinstance(sid, str) or not re.match(r"^[a-z0-9_-]+$", sid):
            pr.add(f"step id {sid!r} must be lower-case letters, digits, - or _", line_of(raw, "id"))
        else:
            step.id = sid
    step.when = _parse_when(raw.get("when"), line_of(raw, "when"), pr)
    if raw.get("voice") is not None:
        step.voice = _parse_voice(raw["voice"], raw, pr, where=f"step {i + 1} voice")
    step.pause = _number(raw.get("pause", 0), "pause", line_of(raw, "pause"), params, pr, 0, 3600)
    name = raw.get("as")
    if name is not None and (not isinstance(name, str) or not NAME.match(name)):
        pr.add(f"'as' must be a lower_case answer name, not {name!r}", line_of(raw, "as"))
        name = None
    step.name = name
    if "timeout" in raw:
        step.timeout = _number(raw["timeout"], "timeout", line_of(raw, "timeout"), params, pr, 1, 3600)

    if kind == StepKind.SAY:
        step.text = _texts(arg, "say", kline, pr)
    elif kind == StepKind.PAUSE:
        step.seconds = _number(arg, "pause", kline, params, pr, 0, 3600)
    elif kind == StepKind.BREATHE:
        step.phases = _parse_phases(arg, kline, params, pr)
        if "cycles" in raw:
            step.cycles = _number(raw["cycles"], "cycles", line_of(raw, "cycles"), params, pr, 1, 1000)
        if "minutes" in raw:
            step.minutes = _number(raw["minutes"], "minutes", line_of(raw, "minutes"), params, pr, 0.1, 240)
        if step.cycles is None and step.minutes is None:
            step.cycles = 1
        step.counting = _flag(raw.get("counting", False), "counting", line_of(raw, "counting"), params, pr)
    elif kind in (StepKind.ASK, StepKind.RATE, StepKind.COLLECT, StepKind.CHOOSE):
        step.text = _texts(arg, kind.value, kline, pr)
        if kind != StepKind.CHOOSE and not step.name:
            pr.add(f"{kind.value} needs 'as: name' to store the answer", line)
        step.reprompt = _texts(raw.get("reprompt"), "reprompt", line_of(raw, "reprompt"), pr, required=False)
        opt = raw.get("optional", False)
        if not isinstance(opt, bool):
            pr.add("optional must be true or false", line_of(raw, "optional"))
        step.optional = bool(opt) if isinstance(opt, bool) else False
        if "expects" in raw:
            step.expects = _parse_expects(raw["expects"], kind, line_of(raw, "expects"), pr)
        if kind == StepKind.ASK:
            step.replies, step.again = _parse_replies(raw, step.expects or "free_text", pr)
            mode = raw.get("mode", "dictation")
            if mode not in ("dictation", "command"):
                pr.add("mode must be dictation or command", line_of(raw, "mode"))
            step.mode = mode if mode in ("dictation", "command") else "dictation"
        if kind == StepKind.RATE:
            scale = raw.get("scale", [0, 10])
            if (not isinstance(scale, list) or len(scale) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in scale) or scale[0] >= scale[1]):
                pr.add("scale must be [low, high] whole numbers, e.g. [0, 10]", line_of(raw, "scale"))
            else:
                step.scale = (scale[0], scale[1])
            step.mode = "command"
        if kind == StepKind.COLLECT:
            step.count = _number(raw.get("count", 1), "count", line_of(raw, "count"), params, pr, 1, 20)
            step.encourage = _texts(raw.get("encourage"), "encourage", line_of(raw, "encourage"), pr, required=False)
            step.done = _texts(raw.get("done"), "done", line_of(raw, "done"), pr, required=False)
        if kind == StepKind.CHOOSE:
            step.mode = "command"
            step.options = _parse_options(raw.get("options"), line_of(raw, "options") or line, pr)
            default = raw.get("default")
            if default is not None:
                if isinstance(default, bool) or not isinstance(default, int) or not 0 <= default < max(1, len(step.options)):
                    pr.add(f"default must be the index of an option (0..{max(0, len(step.options) - 1)})", line_of(raw, "default"))
                else:
                    step.default = default
    elif kind == StepKind.NOTICE:
        if not isinstance(arg, str) or not NAME.match(arg):
            pr.add("notice needs the name of an earlier answer", kline)
        else:
            step.target = arg
        pats = raw.get("patterns", "thinking_traps")
        if pats not in PATTERN_SETS:
            pr.add(f"patterns must be one of {', '.join(PATTERN_SETS)}", line_of(raw, "patterns"))
        else:
            step.patterns = pats
        step.none_text = _texts(raw.get("none"), "none", line_of(raw, "none"), pr, required=False)
    elif kind == StepKind.WAIT:
        if isinstance(arg, dict) and len(arg) == 1 and next(iter(arg)) in ("minutes", "seconds"):
            unit, amount = next(iter(arg.items()))
            val = _number(amount, f"wait {unit}", kline, params, pr, 0, 24 * 3600)
            step.seconds = val if unit == "seconds" else (None if val is None else ("min", val))
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            step.seconds = _number(arg, "wait", kline, params, pr, 0, 24 * 3600)
        else:
            pr.add("wait takes {minutes: N} or {seconds: N}", kline)
        step.checkin = _texts(raw.get("checkin"), "checkin", line_of(raw, "checkin"), pr, required=False)
    elif kind == StepKind.SAVE:
        if arg is True:
            pass
        elif isinstance(arg, dict):
            for k in arg:
                if k not in ("kind", "fields"):
                    pr.add(f"save: unknown key '{k}' (kind, fields)", line_of(arg, k))
            k = arg.get("kind")
            if not isinstance(k, str) or not NAME.match(k):
                pr.add("save needs kind: an entry kind like win", kline)
            step.save_kind = k if isinstance(k, str) else None
            flds = arg.get("fields", {})
            if not isinstance(flds, dict) or not all(isinstance(a, str) and isinstance(b, str) for a, b in flds.items()):
                pr.add("save fields must map journal field: answer name", line_of(arg, "fields"))
            else:
                step.save_fields = dict(flds)
        else:
            pr.add("save takes true, or {kind: K, fields: {field: answer}}", kline)
    elif kind == StepKind.GOTO:
        if not isinstance(arg, str):
            pr.add("goto needs a step id", kline)
        else:
            step.target = arg
        times = raw.get("times")
        if times is not None:
            if isinstance(times, bool) or not isinstance(times, int) or times < 1:
                pr.add("times must be a whole number of at least 1", line_of(raw, "times"))
            else:
                step.times = times
    elif kind == StepKind.END:
        if arg not in (True, None, "completed"):
            pr.add("end takes true", kline)
    return step


def _parse_phases(arg: Any, line: int | None, params: dict[str, Param], pr: _Problems) -> tuple[PhaseSpec, ...]:
    names = ", ".join(p.value for p in Phase)
    out: list[PhaseSpec] = []
    if isinstance(arg, dict):
        items = [(k, v, None, line_of(arg, k)) for k, v in arg.items()]
    elif isinstance(arg, list):
        items = []
        for j, ph in enumerate(arg):
            pl = line_of(arg, j)
            if not isinstance(ph, dict) or "phase" not in ph or "seconds" not in ph:
                pr.add("each phase needs phase: and seconds: (cue: optional)", pl)
                continue
            for k in ph:
                if k not in ("phase", "seconds", "cue"):
                    pr.add(f"phase: unknown key '{k}' (phase, seconds, cue)", line_of(ph, k))
            items.append((ph["phase"], ph["seconds"], ph.get("cue"), pl))
    else:
        pr.add(f"breathe takes phases: {{inhale: 4, exhale: 4}} or a list; phase names: {names}", line)
        return ()
    for name, seconds, cue, pl in items:
        if name not in Phase._value2member_map_:
            pr.add(f"unknown breathing phase '{name}' (phases: {names})", pl)
            continue
        sec = _number(seconds, f"phase {name}", pl, params, pr, 0.5, 60)
        if cue is not None and (not isinstance(cue, str) or not cue.strip()):
            pr.add("cue must be text", pl)
            cue = None
        phase = Phase(name)
        out.append(PhaseSpec(phase, sec if sec is not None else 1, cue or DEFAULT_CUES[phase]))
    if not out and items:
        return ()
    if not items:
        pr.add("breathe needs at least one phase", line)
    return tuple(out)


def _parse_options(value: Any, line: int | None, pr: _Problems) -> tuple[Option, ...]:
    if not isinstance(value, list) or not value:
        pr.add("choose needs options: a list of {match, intent, goto/start/end}", line)
        return ()
    out: list[Option] = []
    for j, raw in enumerate(value):
        ol = line_of(value, j)
        if not isinstance(raw, dict):
            pr.add("each option must be a mapping", ol)
            continue
        for k in raw:
            if k not in _OPTION_KEYS:
                pr.add(f"option: unknown key '{k}' ({', '.join(sorted(_OPTION_KEYS))})", line_of(raw, k))
        match = raw.get("match", [])
        if isinstance(match, (str, bool)):
            match = [match]
        if isinstance(match, list) and any(isinstance(m, bool) for m in match):
            pr.add("option match: yes/no/on/off read as true/false in YAML; quote them (\"yes\")", line_of(raw, "match"))
            match = [m for m in match if not isinstance(m, bool)]
        if not isinstance(match, list) or not all(isinstance(m, (str, int)) for m in match):
            pr.add("option match must be a list of words", line_of(raw, "match"))
            match = []
        intent = raw.get("intent")
        if not match and not intent:
            pr.add("option needs match words or an intent", ol)
        targets = [k for k in ("goto", "start", "end") if raw.get(k)]
        if len(targets) > 1:
            pr.add(f"option: choose one of goto, start, end (found {', '.join(targets)})", ol)
        say = _texts(raw.get("say"), "option say", line_of(raw, "say"), pr, required=False)
        words = tuple(str(m).lower().strip() for m in match)
        label = raw.get("label") or (words[0] if words else str(intent))
        out.append(Option(words, intent if isinstance(intent, str) else None,
                          raw.get("goto") if isinstance(raw.get("goto"), str) else None,
                          raw.get("start") if isinstance(raw.get("start"), str) else None,
                          raw.get("end") is True, say, str(label)))
    return tuple(out)


def _check_flow(script: Script, pr: _Problems) -> None:
    ids: dict[str, int] = {}
    for step in script.steps:
        if step.id:
            if step.id in ids:
                pr.add(f"duplicate step id '{step.id}'", step.line)
            ids[step.id] = step.index
    declared = set(script.params)
    asked: set[str] = set()
    extras = {"crisis_line_name", "crisis_line_spoken", "crisis_line_number", "crisis_line_text", "crisis_line_reach", "crisis_line_again",
              "emergency_number", "name", "script_title"}
    for step in script.steps:
        if step.kind == StepKind.GOTO and step.target not in ids:
            pr.add(f"goto target '{step.target}' is not a step id in this script", step.line)
        for opt in step.options:
            if opt.goto and opt.goto not in ids:
                pr.add(f"option goto target '{opt.goto}' is not a step id in this script", step.line)
        if step.kind == StepKind.NOTICE and step.target and step.target not in asked:
            pr.add(f"notice '{step.target}': no earlier step asks for it", step.line)
        for text in step.text + step.reprompt + step.done + step.checkin + step.none_text:
            for ref in TEXT_REF.findall(text):
                if ref not in declared and ref not in extras and ref not in asked and ref not in _STEP_VARS:
                    if not any(s.name == ref for s in script.steps):
                        pr.add(f"text refers to '{{{ref}}}', which no parameter or answer names", step.line)
        if step.name:
            asked.add(step.name)
        if script.bedtime and step.kind in LISTENING_KINDS:
            pr.add(f"bedtime scripts must not ask anything ({step.kind.value})", step.line)
    if not any(s.name for s in script.steps) and script.journal:
        pass
    _check_loops(script, ids, pr)


_STEP_VARS = {"got", "left", "count", "items", "minutes", "seconds", "question"}


def _check_loops(script: Script, ids: dict[str, int], pr: _Problems) -> None:
    """A cycle made only of unconditional steps and plain gotos never ends."""
    n = len(script.steps)

    def successors(i: int) -> list[int]:
        s = script.steps[i]
        if s.kind == StepKind.END:
            return []
        if s.kind == StepKind.GOTO and s.target in ids:
            return [ids[s.target]] if s.times is None else [ids[s.target], i + 1]
        return [i + 1]

    def exits(i: int) -> bool:
        s = script.steps[i]
        return (s.when is not None or s.kind in (StepKind.CHOOSE, StepKind.END)
                or (s.kind == StepKind.GOTO and s.times is not None))

    # Follow the single-successor chain from every goto; a return to the start with no step
    # on the way that can leave is an endless loop.
    for start in range(n):
        s = script.steps[start]
        if s.kind != StepKind.GOTO or s.target not in ids or exits(start):
            continue
        seen = set()
        i = ids[s.target]
        escapes = False
        while 0 <= i < n and i not in seen:
            seen.add(i)
            if exits(i):
                escapes = True
                break
            nxt = successors(i)
            if len(nxt) != 1:
                escapes = True
                break
            i = nxt[0]
        if not escapes and (i in seen):
            pr.add(f"loop without an exit: goto '{s.target}' comes back here with no choose, when or times on the way", s.line)


def cue_warnings(script: Any, wpm: float = 160.0) -> list[tuple[int | None, str]]:
    """(line, message) for each breathing cue likely longer than its phase, even spoken
    MAX_SPEEDUP times faster: it would be cut at the next beat. Estimated at ``wpm`` times the
    script's rate; a phase length taken from a parameter uses its default."""
    out: list[tuple[int | None, str]] = []
    params = {n: p.default for n, p in getattr(script, "params", {}).items()}
    rate = float(getattr(script.voice, "rate", 1.0))
    for step in script.steps:
        if step.kind != StepKind.BREATHE:
            continue
        step_rate = rate * (step.voice.rate if getattr(step, "voice", None) is not None else 1.0)
        for spec in step.phases:
            seconds = spec.seconds
            if isinstance(seconds, str):
                m = REF.match(seconds)
                seconds = params.get(m.group(1)) if m else None
            if not isinstance(seconds, (int, float)):
                continue
            text = spec.cue
            need = estimate_seconds(text, wpm * step_rate * MAX_SPEEDUP)
            if need > seconds:
                out.append((step.line, f"cue {text!r} likely takes {need:.1f} s, longer than its "
                                       f"{seconds:g} s {spec.phase.value} phase even spoken faster; use fewer words"))
    return out

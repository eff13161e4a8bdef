"""The package's shape, read from its own source: layers that import only downward (imports inside
functions count), no import cycle, and no module over 600 lines. docs/architecture.md describes
the layers."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "voicecoach"

# Lowest first. A module may import its own layer (without a cycle) or any layer below.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation", {"errors", "types", "yamlio", "config", "numbers", "normalize", "models", "progress",
                    "trace"}),
    ("understanding", {"templates", "crisis", "crisis_lines", "patterns", "scoring", "embed", "semantic",
                       "crisis_model", "expansions", "matcher", "intents", "answers"}),
    ("audio", {"audio", "vad", "player", "mic", "aec", "aec_linear", "room", "devices"}),
    ("speech", {"asr", "tts"}),
    ("dialogue", {"script_model", "script_fields", "script_parser", "script_text", "scripts", "followup",
                  "actions", "engine_steps", "engine", "cue_plan", "journal", "memory", "coach"}),
    ("runtime", {"runner", "session", "ear", "tape", "display", "live", "runtime"}),
    ("app", {"cli", "__main__", "commands", "app"}),
]
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ["voicecoach", *pkg.split(".")] if pkg else ["voicecoach"]
                    base = base[: len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                names = [f"{mod}.{a.name}" for a in node.names] + [mod]
            for name in names:
                if not name.startswith("voicecoach."):
                    continue
                target = name[len("voicecoach."):]
                while target not in mods and "." in target:
                    target = target.rpartition(".")[0]
                if target in mods and target != m and target:
                    graph[m].add(target)
    return graph


def _layer(module: str) -> int:
    top = module.split(".")[0]
    for i, (_name, members) in enumerate(LAYERS):
        if top in members:
            return i
    raise AssertionError(f"voicecoach/{module}: in no layer of tests/test_architecture.py (and docs/architecture.md)")


def test_every_module_is_in_a_layer():
    for m in _modules():
        if m:
            _layer(m)


def test_imports_only_go_down_or_across():
    graph = _imports(_modules())
    upward = [f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
              for m, targets in graph.items() if m for t in targets if _layer(t) > _layer(m)]
    assert not upward, upward


def test_no_import_cycle():
    graph = _imports(_modules())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_no_module_is_over_600_lines():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long

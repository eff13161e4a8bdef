"""Template expansions: every template's sentences, cleaned, with their intent and slots.

Expanding and cleaning some 20 000 sentences takes about a second, so the result is kept in the
user cache directory under a digest of the templates, lists, rules and fillers."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voicecoach.normalize import CONTRACTIONS
from voicecoach.templates import Grammar

log = logging.getLogger(__name__)

EXPANSION_VERSION = "1"  # raise when expansion or cleaning changes in a way the digest cannot see


def cache_dir() -> Path | None:
    """Where template expansions are cached: $VOICECOACH_CACHE, else $XDG_CACHE_HOME/voicecoach,
    else ~/.cache/voicecoach; None when VOICECOACH_CACHE is empty (no cache)."""
    env = os.environ.get("VOICECOACH_CACHE")
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if base:
        return Path(base) / "voicecoach"
    try:
        return Path.home() / ".cache" / "voicecoach"
    except RuntimeError:
        return None


def expansion_key(intents: dict[str, Any], grammar: Grammar, fillers: Any) -> str:
    """A digest of everything the template expansions depend on."""
    h = hashlib.sha256(EXPANSION_VERSION.encode())
    h.update(repr(CONTRACTIONS).encode())
    h.update(repr(fillers).encode())
    h.update(repr(sorted((k, v) for k, v in grammar.rules.items())).encode())
    h.update(repr(sorted((k, [(v.text, v.value) for v in lst.values])
                         for k, lst in grammar.lists.items())).encode())
    for intent in intents.values():
        h.update(repr((intent.name, [t.tree for t in intent.templates])).encode())
    return h.hexdigest()[:32]


def cached_expansions(intents: dict[str, Any], grammar: Grammar, clean: Callable[[str], str],
                      fillers: Any) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """(sentences, owning intent, slots) of every template, from the cache when it is there."""
    path = None
    cache = cache_dir()
    if cache is not None:
        path = cache / f"expansions-{expansion_key(intents, grammar, fillers)}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and len(data.get("choices", ())) == len(data.get("owner", ())) \
                    == len(data.get("slots", ())) and set(data["owner"]) <= set(intents):
                return list(data["choices"]), list(data["owner"]), list(data["slots"])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError) as exc:
            log.debug("expansion cache %s unreadable, rebuilding: %s", path, exc)
    choices: list[str] = []
    owner: list[str] = []
    slot_values: list[dict[str, str]] = []
    for intent in intents.values():
        for t in intent.templates:
            for text, slots in grammar.sentences(t.tree):
                norm = clean(text)
                if not norm:
                    continue
                choices.append(norm)
                owner.append(intent.name)
                slot_values.append(slots)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"choices": choices, "owner": owner, "slots": slot_values}),
                           encoding="utf-8")
            os.replace(tmp, path)
            old = sorted(path.parent.glob("expansions-*.json"), key=lambda p: p.stat().st_mtime)
            for stale in old[:-8]:  # keep the few most recent (packaged and user files)
                stale.unlink(missing_ok=True)
        except OSError as exc:
            log.debug("expansion cache %s not written (only costs time next start): %s", path, exc)
    return choices, owner, slot_values

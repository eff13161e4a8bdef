"""Vosk (Kaldi): the preferred engine when an English model is installed.

The model is found in order: ``asr.vosk_model`` in config, ``VOICECOACH_VOSK_MODEL``, then the
models directories (``$VOICECOACH_HOME/models``, the checkout's ``models/``). Its language is read
from the directory name, README or parent package, and a model whose language is not
``asr.language`` is never used. Command mode sets a grammar (the phrase list plus ``[unk]``);
words outside the model's vocabulary are dropped with a warning, and a phrase left empty is
skipped. Dictation uses the full model.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from voicecoach.audio import ASR_RATE, to_asr
from voicecoach.errors import EngineUnavailable
from voicecoach.types import AudioChunk, Transcript, Word

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install vosk"
DOWNLOAD_HINT = "run: voicecoach models download"
NO_UNK_CONFIDENCE = 0.5
"""Command confidence ceiling for a model without ``[unk]`` (every sound lands on a phrase)."""


def candidate_paths(config) -> list[Path]:
    """Vosk model directories to consider, in order of preference."""
    from voicecoach.models import model_candidates, model_kind

    return model_candidates(getattr(config.asr, "vosk_model", None), "VOICECOACH_VOSK_MODEL", config.home,
                            lambda p: p.is_dir() and model_kind(p) == "vosk",
                            key=lambda p: ("small" not in p.name, p.name))


def find_model(config) -> tuple[Path, str | None]:
    """(model directory, language) of the first usable model for ``config.asr.language``.

    A model of another language is passed over; one whose language cannot be told is used only
    when named explicitly (config or environment)."""
    from voicecoach.models import model_kind, model_language

    want = (config.asr.language or "en").lower()
    explicit = {Path(p).expanduser() for p in (getattr(config.asr, "vosk_model", None),
                                                os.environ.get("VOICECOACH_VOSK_MODEL")) if p}
    notes: list[str] = []
    for p in candidate_paths(config):
        if model_kind(p) != "vosk":
            notes.append(f"{p} is not a Vosk model")
            continue
        lang = model_language(p)
        if lang == want or (lang is None and p in explicit):
            return p, lang
        notes.append(f"{p} is {lang or 'an unknown language'}, not {want}")
    where = "; ".join(notes) if notes else "no model installed"
    raise EngineUnavailable(f"no Vosk model for language '{want}' ({where}); {DOWNLOAD_HINT}")


class VoskEngine:
    """A loaded Vosk model; every recogniser shares it."""

    name = "vosk"
    _instances: dict[str, VoskEngine] = {}
    _lock = threading.Lock()

    def __init__(self, model_path: Path, language: str | None):
        try:
            import vosk
        except ImportError:
            raise EngineUnavailable(f"vosk is not installed ({INSTALL_HINT})") from None
        vosk.SetLogLevel(-1)
        self.model_path = model_path
        self.language = language
        try:
            # model_path= only: never the model_name/lang forms, which download.
            self.model = vosk.Model(model_path=str(model_path))
        except Exception as exc:
            raise EngineUnavailable(f"cannot load Vosk model {model_path}: {exc}") from None
        self._grammars: dict[tuple[str, ...], str] = {}
        self.has_unk = self.knows("[unk]")

    @classmethod
    def load(cls, config) -> VoskEngine:
        path, lang = find_model(config)
        return cls.load_path(path, lang)

    @classmethod
    def load_path(cls, path: Path, language: str | None = None) -> VoskEngine:
        key = str(Path(path).resolve())
        with cls._lock:
            if key not in cls._instances:
                cls._instances[key] = cls(Path(path), language)
            return cls._instances[key]

    def knows(self, word: str) -> bool:
        """Whether ``word`` is in the model's vocabulary."""
        return self.model.vosk_model_find_word(word) >= 0

    def grammar(self, phrases: Sequence[str]) -> str:
        """The JSON grammar for a phrase list: out-of-vocabulary words dropped (warned once),
        phrases left empty skipped, ``[unk]`` last so other speech is not forced onto a phrase."""
        key = tuple(phrases)
        if key not in self._grammars:
            kept: list[str] = []
            dropped: set[str] = set()
            for phrase in phrases:
                words = phrase.lower().split()
                ok = [w for w in words if self.knows(w)]
                dropped.update(w for w in words if w not in ok)
                if ok:
                    kept.append(" ".join(ok))
            if dropped:
                log.warning("vosk: %d word(s) outside the model's vocabulary dropped from the "
                            "grammar: %s", len(dropped), ", ".join(sorted(dropped)))
            tail = ["[unk]"] if self.has_unk else []
            if not self.has_unk:
                log.warning("vosk: model %s has no [unk]: speech outside the phrase set will be "
                            "forced onto a phrase (command confidence capped at %.1f)",
                            self.model_path.name, NO_UNK_CONFIDENCE)
            self._grammars[key] = json.dumps(list(dict.fromkeys(kept)) + tail, ensure_ascii=False)
        return self._grammars[key]

    def recognizer(self, mode: str, phrases: Sequence[str]) -> VoskRecognizer:
        return VoskRecognizer(self, mode, self.grammar(phrases) if mode == "command" else None)


class VoskRecognizer:
    """A KaldiRecognizer per utterance (cheap: the model is shared)."""

    def __init__(self, engine: VoskEngine, mode: str, grammar: str | None):
        self.engine_ = engine
        self.engine = engine.name
        self.mode = mode
        self._grammar = grammar
        self._rec: Any = None  # vosk.KaldiRecognizer (untyped)
        self._parts: list[dict] = []

    def start(self) -> None:
        import vosk

        if self._grammar is not None:
            self._rec = vosk.KaldiRecognizer(self.engine_.model, ASR_RATE, self._grammar)
        else:
            self._rec = vosk.KaldiRecognizer(self.engine_.model, ASR_RATE)
        self._rec.SetWords(True)
        self._parts = []

    def accept(self, chunk: AudioChunk) -> None:
        if self._rec is None:
            self.start()
        if chunk.rate != ASR_RATE or chunk.channels != 1:
            chunk = to_asr(chunk)
        if chunk.frames and self._rec.AcceptWaveform(chunk.to_bytes()):
            # Vosk ended a segment at a pause: keep it, the utterance goes on.
            self._parts.append(json.loads(self._rec.Result()))

    def partial(self) -> Transcript:
        if self._rec is None:
            return Transcript("", 0.0, (), final=False)
        done = " ".join(p.get("text", "") for p in self._parts)
        now = json.loads(self._rec.PartialResult()).get("partial", "")
        return Transcript(_clean(f"{done} {now}"), 0.0, (), final=False)

    def finish(self) -> Transcript:
        if self._rec is None:
            self.start()
        parts = self._parts + [json.loads(self._rec.FinalResult())]
        self._rec = None
        self._parts = []
        words: list[Word] = []
        for p in parts:
            for w in p.get("result", []):
                if w.get("word") == "[unk]":
                    continue
                words.append(Word(w["word"], float(w["start"]), float(w["end"]), float(w.get("conf", 1.0))))
        text = _clean(" ".join(p.get("text", "") for p in parts))
        if not text:
            return Transcript("", 0.0, (), True)
        conf = sum(w.confidence for w in words) / len(words) if words else 1.0
        if self._grammar is not None and not self.engine_.has_unk:
            conf = min(conf, NO_UNK_CONFIDENCE)
        return Transcript(text, max(0.0, min(1.0, conf)), tuple(words), True)


def _clean(text: str) -> str:
    return " ".join(w for w in text.split() if w != "[unk]")

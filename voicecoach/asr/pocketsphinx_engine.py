"""PocketSphinx: the embedded engine. Its wheel ships the US English acoustic model, dictionary
and language model, so a fresh install recognises speech with no download.

Command mode decodes a JSGF grammar made from the phrase list (plus a small garbage loop, so
speech outside the set is not forced onto a phrase); dictation uses the bundled language model.
Words the dictionary lacks get a pronunciation from :data:`EXTRA_PRONUNCIATIONS`, or from
splitting them into dictionary words; failing both, the phrase is dropped with a warning.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Sequence

from voicecoach.audio import ASR_RATE, to_asr
from voicecoach.errors import EngineUnavailable
from voicecoach.types import AudioChunk, Transcript, Word

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install pocketsphinx"

EXTRA_PRONUNCIATIONS: dict[str, str] = {
    # Words of the coach's vocabulary missing from cmudict-en-us.
    "reframe": "R IY F R EY M",
    "reframing": "R IY F R EY M IH NG",
    "reframed": "R IY F R EY M D",
    "overthinking": "OW V ER TH IH NG K IH NG",
    "catastrophizing": "K AH T AE S T R AH F AY Z IH NG",
    "unalive": "AH N AH L AY V",
    "selfharm": "S EH L F HH AA R M",
    "okay": "OW K EY",
}

GARBAGE_WORDS: tuple[str, ...] = (
    # Short, common words as a garbage loop: speech outside the phrase set lands here instead of
    # on the nearest phrase. Kept away from the phrase words themselves (removed when they clash).
    "the", "a", "and", "of", "it", "that", "was", "this", "with", "for", "on", "at", "they",
    "what", "so", "like", "just", "then", "there", "well", "oh", "um", "uh", "hmm", "okay",
    "work", "day", "time", "thing", "good", "think", "know", "really", "said", "went",
)

GARBAGE_WEIGHT = 0.0
"""Prior of the garbage branch against a phrase (JSGF weight)."""

FRAMES_PER_SECOND = 100


def _model_dir() -> str:
    try:
        from pocketsphinx import get_model_path
    except ImportError:
        raise EngineUnavailable(f"pocketsphinx is not installed ({INSTALL_HINT})") from None
    path = os.path.join(get_model_path(), "en-us")
    if not os.path.isdir(path):
        raise EngineUnavailable(f"pocketsphinx has no English model at {path} ({INSTALL_HINT})")
    return path


_WORD = re.compile(r"[a-z0-9']+")


def words_of(phrase: str) -> list[str]:
    """Lower-case words of a phrase, punctuation dropped (apostrophes kept)."""
    return _WORD.findall(phrase.lower().replace("\u2019", "'"))


class PocketsphinxEngine:
    """The loaded model; decoders are pooled and reused across utterances."""

    name = "pocketsphinx"

    def __init__(self, model_dir: str):
        self.model_dir = model_dir
        self._pool: list = []
        self._lock = threading.Lock()
        self._grammars: dict[tuple[str, ...], tuple[str, str, list[str]]] = {}
        self._dict_cache: dict[str, str | None] = {}
        slot = self._new_decoder()
        self._probe = slot.dec
        self._default_search = self._probe.current_search()
        self._pool.append(slot)

    _instance: PocketsphinxEngine | None = None

    @classmethod
    def load(cls) -> PocketsphinxEngine:
        """The shared engine (the model is read once per process)."""
        if cls._instance is None:
            cls._instance = cls(_model_dir())
        return cls._instance

    def _new_decoder(self):
        from pocketsphinx import Decoder

        d = self.model_dir
        dec = Decoder(
            hmm=os.path.join(d, "en-us"),
            lm=os.path.join(d, "en-us.lm.bin"),
            dict=os.path.join(d, "cmudict-en-us.dict"),
            loglevel="FATAL",
            # No best-path rescoring of the lattice: on the command grammar it is 3x slower and
            # less accurate (docs/benchmarks_asr.md); slightly wider beams than the defaults.
            bestpath=False,
            beam=1e-40,
            wbeam=1e-30,
            pbeam=1e-40,
        )
        return _Slot(dec, dec.get_cmn())

    # --- pronunciations and grammar -------------------------------------------------------
    def pronunciation(self, word: str) -> str | None:
        """Phones for ``word``: the dictionary, the extra list, or two dictionary words joined."""
        if word in self._dict_cache:
            return self._dict_cache[word]
        phones = EXTRA_PRONUNCIATIONS.get(word) or self._probe.lookup_word(word)
        if phones is None and "'" not in word and len(word) > 5:
            for i in range(len(word) - 3, 2, -1):
                a, b = self._probe.lookup_word(word[:i]), self._probe.lookup_word(word[i:])
                if a and b:
                    phones = f"{a} {b}"
                    break
        self._dict_cache[word] = phones
        return phones

    def grammar(self, phrases: Sequence[str]) -> tuple[str, str, list[str]]:
        """(search name, JSGF text, phrases kept) for a phrase list."""
        key = tuple(phrases)
        if key in self._grammars:
            return self._grammars[key]
        kept: list[str] = []
        self._extra: dict[str, str] = getattr(self, "_extra", {})
        for phrase in phrases:
            ws = words_of(phrase)
            missing = [w for w in ws if self.pronunciation(w) is None]
            if not ws or missing:
                if missing:
                    log.warning("pocketsphinx: dropping phrase %r: no pronunciation for %s",
                                phrase, ", ".join(missing))
                continue
            for w in ws:
                if self._probe.lookup_word(w) is None:
                    self._extra[w] = self.pronunciation(w) or ""
            kept.append(" ".join(ws))
        if not kept:
            raise EngineUnavailable("pocketsphinx: none of the command phrases can be pronounced")
        phrase_words = {w for p in kept for w in p.split()}
        garbage = [w for w in GARBAGE_WORDS if w not in phrase_words
                   and self.pronunciation(w) is not None]
        for w in garbage:
            if self._probe.lookup_word(w) is None:
                self._extra[w] = self.pronunciation(w) or ""
        alts = " | ".join(_jsgf_quote(p) for p in dict.fromkeys(kept))
        jsgf = "#JSGF V1.0;\ngrammar commands;\n"
        if GARBAGE_WEIGHT > 0:
            jsgf += f"public <utt> = /1/ <cmd> | /{GARBAGE_WEIGHT}/ <garbage>+;\n<cmd> = {alts};\n"
            jsgf += f"<garbage> = {' | '.join(garbage)};\n"
        else:
            jsgf += f"public <utt> = {alts};\n"
        name = f"cmd{len(self._grammars)}"
        self._grammars[key] = (name, jsgf, kept)
        self._garbage = set(garbage)
        return self._grammars[key]

    def acquire(self, search: str | None = None, jsgf: str | None = None) -> _Slot:
        """A decoder for one utterance, with ``search`` (a grammar) or the LM active."""
        with self._lock:
            slot = self._pool.pop() if self._pool else self._new_decoder()
        # Each utterance starts from the model's own cepstral mean, not the last speaker's: the
        # same clip must decode the same whatever was heard before it.
        slot.dec.set_cmn(slot.cmn0)
        for w, ph in getattr(self, "_extra", {}).items():
            if w not in slot.words:
                slot.dec.add_word(w, ph, True)
                slot.words.add(w)
        if search is not None:
            if search not in slot.searches:
                slot.dec.add_jsgf_string(search, jsgf)
                slot.searches.add(search)
            slot.dec.activate_search(search)
        else:
            slot.dec.activate_search(self._default_search)
        return slot

    def release(self, slot: _Slot) -> None:
        with self._lock:
            self._pool.append(slot)

    def recognizer(self, mode: str, phrases: Sequence[str]) -> PocketsphinxRecognizer:
        if mode == "command":
            search, jsgf, _ = self.grammar(phrases)
            return PocketsphinxRecognizer(self, mode, search, jsgf)
        return PocketsphinxRecognizer(self, mode, None, None)


class _Slot:
    """A decoder and what has been added to it."""

    def __init__(self, dec, cmn0: str):
        self.dec = dec
        self.cmn0 = cmn0
        """The decoder's initial cepstral mean, restored before every utterance."""
        self.searches: set[str] = set()
        self.words: set[str] = set()


def _jsgf_quote(phrase: str) -> str:
    # JSGF tokens: words with apostrophes are fine unquoted in pocketsphinx's parser.
    return phrase


class PocketsphinxRecognizer:
    """One utterance through a pooled decoder; streams partial results."""

    def __init__(self, engine: PocketsphinxEngine, mode: str, search: str | None, jsgf: str | None):
        self.engine_ = engine
        self.engine = engine.name
        self.mode = mode
        self._search = search
        self._jsgf = jsgf
        self._slot: _Slot | None = None

    def start(self) -> None:
        self._open()

    def _open(self) -> _Slot:
        """A fresh utterance on a decoder of the pool (the one held is given back)."""
        if self._slot is not None:
            try:
                self._slot.dec.end_utt()
            except RuntimeError:
                pass
            self.engine_.release(self._slot)
        slot = self.engine_.acquire(self._search, self._jsgf)
        slot.dec.start_utt()
        self._slot = slot
        return slot

    def accept(self, chunk: AudioChunk) -> None:
        slot = self._slot if self._slot is not None else self._open()
        if chunk.rate != ASR_RATE or chunk.channels != 1:
            chunk = to_asr(chunk)
        if chunk.frames:
            slot.dec.process_raw(chunk.to_bytes(), False, False)

    def partial(self) -> Transcript:
        if self._slot is None:
            return Transcript("", 0.0, (), final=False)
        hyp = self._slot.dec.hyp()
        return Transcript(self._clean(hyp.hypstr if hyp else ""), 0.0, (), final=False)

    def cancel(self) -> None:
        """Drop the utterance without a result (the decoder goes back to the pool)."""
        slot, self._slot = self._slot, None
        if slot is None:
            return
        try:
            slot.dec.end_utt()
        finally:
            self.engine_.release(slot)

    def finish(self) -> Transcript:
        slot = self._slot if self._slot is not None else self._open()
        self._slot = None
        dec = slot.dec
        try:
            dec.end_utt()
            hyp = dec.hyp()
            words: list[Word] = []
            lm = dec.get_logmath()
            for seg in dec.seg() or ():
                w = re.sub(r"\(\d+\)$", "", seg.word)
                if w.startswith("<") or w.startswith("[") or w in ("<sil>",):
                    continue
                p = seg.prob if isinstance(seg.prob, float) else lm.exp(seg.prob)
                words.append(Word(w, seg.start_frame / FRAMES_PER_SECOND,
                                  (seg.end_frame + 1) / FRAMES_PER_SECOND, float(p)))
        finally:
            self.engine_.release(slot)
        text = self._clean(hyp.hypstr if hyp else "")
        if not text:
            return Transcript("", 0.0, (), True)
        if self.mode == "command":
            # Posterior of the whole phrase from the lattice.
            conf = float(hyp.prob) if hyp.prob is not None else 0.0
            words = [w for w in words if w.word in text.split()]
        else:
            conf = math.fsum(w.confidence for w in words) / len(words) if words else 0.0
        return Transcript(text, max(0.0, min(1.0, conf)), tuple(words), True)

    def _clean(self, text: str) -> str:
        ws = [re.sub(r"\(\d+\)$", "", w) for w in text.split()]
        if self.mode == "command":
            garbage: set[str] = getattr(self.engine_, "_garbage", set())
            if any(w in garbage for w in ws):
                return ""
        return " ".join(w for w in ws if not w.startswith(("<", "[")))

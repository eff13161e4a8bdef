#!/usr/bin/env python3
"""Build the many-voice speech corpus: every control phrase (with polite and casual forms),
requests, answers, crisis statements, non-commands and the coach's own speech, spoken by three
families of synthetic voices with room and recording effects.

    python scripts/make_corpus.py [OUT_DIR] [--kinds control,request,...] [--jobs 2]

OUT_DIR defaults to ``$VOICECOACH_CORPUS`` or ``~/.cache/voicecoach/corpus``; it is a cache (not
part of the repository). Files already there are kept, so a second run only checks. The same
command always gives the same files: every random choice is seeded from the clip's name.

Voice families (``family`` in the manifest):

- ``espeak``: espeak-ng with several variants, speeds and pitches; always with noise.
- ``festival``: Festival's HTS voice ``cmu_us_slt_arctic_hts`` (``festvox-us-slt-hts``).
- ``flite``: flite's voices kal, kal16, awb, rms, slt. **Held out**: never used to tune anything;
  reported separately as unseen voices.

Every clip then goes through sox (tempo 0.9-1.1, pitch -200..+200 cents, reverb on one in four)
and numpy (pink noise at 10-20 dB SNR, 0.1-1.0 s of leading silence, level -30..-6 dBFS).

``manifest.jsonl``: one object per clip: ``file`` (relative), ``text``, ``kind`` (control,
request, answer, crisis, other, coach; blind-crisis and blind-other: sentences kept out of all
tuning, ``corpus_text.BLIND_CRISIS``), ``label`` (the intent id the sentence was written for,
``crisis``, or null), ``family``, ``voice``, ``tempo``, ``cents``, ``reverb``, ``snr`` (null:
clean), ``lead``, ``level_db``, ``seconds``.

Needs espeak-ng, sox, festival + festvox-us-slt-hts and flite (``scripts/setup.sh --test``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_text as T  # noqa: E402

VERSION = 1
RATE = 16000
FAMILIES = ("espeak", "festival", "flite")
HELD_OUT = "flite"
"""The family kept out of all tuning."""

# (voice name, speed words/min, pitch 0-99) for espeak-ng
ESPEAK = [("en-us", 165, 50), ("en-gb+f3", 150, 60), ("en+m3", 175, 40), ("en-us+f2", 140, 70),
          ("en-gb-scotland+m2", 160, 45), ("en-029+f4", 155, 55), ("en+m7", 185, 35),
          ("en-gb-x-rp+f1", 145, 65)]
FESTIVAL = [("slt", 1.0, 0), ("slt", 0.92, -150), ("slt", 1.08, 150), ("slt", 1.0, -300)]
FLITE = ["kal", "kal16", "awb", "rms", "slt"]

KINDS = ("control", "request", "answer", "crisis", "other", "coach", "blind-crisis", "blind-other")
PER_FAMILY = {"control": 3, "request": 1, "answer": 2, "crisis": 2, "other": 1, "blind-crisis": 2,
              "blind-other": 2}
"""Voices of each family that speak each sentence of a kind (chosen in rotation)."""
COACH_SECONDS = 660.0
"""Seconds of the coach's own speech to make: over 10 minutes, the span the false-stop target
names, with a margin for the estimate below."""


def _seed(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _run(cmd: list[str], stdin: str | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, input=stdin)
    if proc.returncode != 0:
        raise SystemExit(f"make_corpus: {' '.join(cmd[:3])} failed: {proc.stderr.strip()[:300]}")


def voice_name(family: str, voice_index: int) -> str:
    if family == "espeak":
        v, wpm, pitch = ESPEAK[voice_index % len(ESPEAK)]
        return f"espeak-ng {v} {wpm}wpm p{pitch}"
    if family == "festival":
        _v, stretch, cents = FESTIVAL[voice_index % len(FESTIVAL)]
        return f"festival slt-hts x{stretch} {cents:+d}c"
    return f"flite {FLITE[voice_index % len(FLITE)]}"


def synthesize(family: str, voice_index: int, text: str, out: Path) -> None:
    """The raw voice into ``out`` (any rate)."""
    if family == "espeak":
        v, wpm, pitch = ESPEAK[voice_index % len(ESPEAK)]
        _run(["espeak-ng", "-v", v, "-s", str(wpm), "-p", str(pitch), "-w", str(out), text])
        return
    if family == "festival":
        _v, stretch, cents = FESTIVAL[voice_index % len(FESTIVAL)]
        raw = out.with_suffix(".raw.wav")
        _run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-o", str(raw)], stdin=text + "\n")
        _run(["sox", "-R", str(raw), str(out), "tempo", "-s", f"{stretch}", "pitch", str(cents)])
        raw.unlink()
        return
    v = FLITE[voice_index % len(FLITE)]
    _run(["flite", "-voice", v, "-t", text, "-o", str(out)])


def pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pink-ish noise (1/f power) of unit RMS."""
    white = rng.standard_normal(n + 1)
    spec = np.fft.rfft(white)
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n + 1)[:n]
    return x / (np.sqrt(np.mean(x * x)) + 1e-12)


def _speech_rms(x: np.ndarray) -> float:
    frames = x[: len(x) // 480 * 480].reshape(-1, 480) if len(x) >= 480 else x.reshape(1, -1)
    e = np.sqrt(np.mean(frames * frames, axis=1))
    active = e[e >= 0.1 * e.max()] if e.size else e
    return float(np.sqrt(np.mean(active * active))) if active.size else 1e-9


def render(item: dict, out_dir: Path) -> dict:
    """Synthesise and process one clip (skipped when its WAV exists); returns its manifest row."""
    from voicecoach.audio import AudioChunk, read_wav, write_wav

    name = item["name"]
    path = out_dir / f"{name}.wav"
    rng = _seed(name)
    tempo = float(rng.choice([0.9, 0.95, 1.0, 1.0, 1.05, 1.1]))
    cents = int(rng.integers(-200, 201)) if item["family"] != "festival" else 0
    reverb = bool(rng.random() < 0.25)
    noisy = item["family"] == "espeak" or rng.random() < 1 / 3
    snr = float(rng.uniform(10.0, 20.0)) if noisy and item["kind"] != "coach" else None
    lead = float(rng.uniform(0.1, 1.0))
    level = float(rng.uniform(-30.0, -6.0))
    if item["kind"] == "coach":
        tempo, cents, reverb, lead, level = 1.0, 0, False, 0.2, -12.0
    row = {k: item[k] for k in ("text", "kind", "label", "family")}
    row.update(file=f"{name}.wav", tempo=tempo, cents=cents, reverb=reverb, snr=snr,
               lead=round(lead, 3), level_db=round(level, 1))
    row["voice"] = voice_name(item["family"], item["voice"])
    if path.is_file():
        row["seconds"] = round(read_wav(path).seconds, 3)
        return row
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        synthesize(item["family"], item["voice"], item["text"], raw)
        fx = Path(tmp) / "fx.wav"
        cmd = ["sox", "-R", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(fx)]
        if tempo != 1.0:
            cmd += ["tempo", "-s", str(tempo)]
        if cents:
            cmd += ["pitch", str(cents)]
        if reverb:
            cmd += ["reverb", "40", "50", "60", "100", "10"]
        cmd += ["rate", str(RATE)]
        _run(cmd)
        x = read_wav(fx).samples.astype(np.float64) / 32768.0
    x = x / (_speech_rms(x) + 1e-12) * 10 ** (level / 20.0)
    pre, post = np.zeros(int(lead * RATE)), np.zeros(int(0.6 * RATE))
    x = np.concatenate([pre, x, post])
    if snr is not None:
        noise_rms = 10 ** ((level - snr) / 20.0)
        x = x + pink(rng, x.size) * noise_rms
    peak = np.max(np.abs(x)) if x.size else 0.0
    if peak > 0.99:
        x *= 0.99 / peak
    samples = np.round(x * 32767.0).astype(np.int16)
    write_wav(path, AudioChunk(RATE, samples))
    row["seconds"] = round(samples.size / RATE, 3)
    return row


def coach_lines() -> list[str]:
    """Every sentence the packaged scripts say, in order, without repeats."""
    import yaml

    root = Path(__file__).resolve().parent.parent / "voicecoach" / "data" / "scripts"
    seen: dict[str, None] = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("say", "cue", "ask", "text", "prompt") and isinstance(v, str):
                    seen.setdefault(v.strip(), None)
                elif k in ("say", "ask") and isinstance(v, list):
                    for s in v:
                        if isinstance(s, str):
                            seen.setdefault(s.strip(), None)
                        else:
                            walk(s)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for f in sorted(root.glob("*.yaml")):
        walk(yaml.safe_load(f.read_text()))
    return [s for s in seen if s and "{" not in s]


def plan(kinds: set[str]) -> list[dict]:
    """Every clip to make: name, text, kind, label, family, voice index."""
    items: list[dict] = []
    sets = {"control": T.CONTROLS, "request": T.REQUESTS, "answer": T.ANSWERS,
            "crisis": T.CRISIS, "other": T.NOT_COMMANDS, "blind-crisis": T.BLIND_CRISIS,
            "blind-other": T.BLIND_OTHER}
    nvoices = {"espeak": len(ESPEAK), "festival": len(FESTIVAL), "flite": len(FLITE)}
    for kind, sentences in sets.items():
        if kind not in kinds:
            continue
        for i, (text, label) in enumerate(sentences):
            for fam in FAMILIES:
                for r in range(PER_FAMILY[kind]):
                    v = (i * PER_FAMILY[kind] + r) % nvoices[fam]
                    items.append({"name": f"{fam}/{kind}-{i:03d}-{r}", "text": text, "kind": kind,
                                  "label": label, "family": fam, "voice": v})
    if "coach" in kinds:
        # The coach's own speech, fed back as input: about COACH_SECONDS in all (an estimate of
        # 13 characters a second, the rate the two voices measured, pauses included), in two voices
        # the coach could have.
        total = 0.0
        for i, text in enumerate(coach_lines()):
            fam, v = (("espeak", 0) if i % 2 == 0 else ("festival", 0))
            items.append({"name": f"coach/{i:03d}", "text": text, "kind": "coach", "label": None,
                          "family": fam, "voice": v})
            total += len(text) / 13.0
            if total >= COACH_SECONDS:
                break
    return items


def _read_manifest(out: Path) -> list[dict]:
    path = out / "manifest.jsonl"
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"make_corpus: {path}:{n}: not JSON ({e.msg}); delete it to rebuild") from None
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = os.environ.get("VOICECOACH_CORPUS") or str(Path.home() / ".cache" / "voicecoach" / "corpus")
    ap.add_argument("out_dir", nargs="?", type=Path, default=Path(default))
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, from {','.join(KINDS)}")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    kinds = {k.strip() for k in args.kinds.split(",") if k.strip()}
    unknown = kinds - set(KINDS)
    if unknown:
        print(f"make_corpus: unknown kind(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    for tool in ("espeak-ng", "sox", "text2wave", "flite"):
        if shutil.which(tool) is None:
            print(f"make_corpus: {tool} is not installed (scripts/setup.sh --test)", file=sys.stderr)
            return 2
    out = args.out_dir.expanduser()
    items = plan(kinds)
    for d in {(out / it["name"]).parent for it in items}:
        d.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda it: render(it, out), items))
    # Building some kinds keeps the clips of the others already listed.
    kept = [r for r in _read_manifest(out) if r.get("kind") not in kinds]
    with open(out / "manifest.jsonl", "w") as f:
        for r in kept + rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    secs = sum(r["seconds"] for r in rows)
    print(f"{len(rows)} clips ({secs / 60:.1f} min) in {out}; held-out family: {HELD_OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

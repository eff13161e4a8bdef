"""Speech fixtures: WAVs synthesised by scripts/make_fixtures.py (espeak-ng + sox), once per
session. Import the fixture into a test module: ``from asr_fixtures import asr_wavs``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Fixtures:
    dir: Path
    items: list[dict]
    """manifest.json: file, text, intent, crisis, set, voice, language, noise."""

    def select(self, group: str, noise: bool | None = None) -> list[dict]:
        return [i for i in self.items if i["set"] == group
                and (noise is None or bool(i["noise"]) == noise)]

    def path(self, item: dict) -> Path:
        return self.dir / item["file"]


@pytest.fixture(scope="session")
def asr_wavs(tmp_path_factory) -> Fixtures:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install espeak-ng sox)")
    out = tmp_path_factory.mktemp("asr_wavs")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_fixtures.py"), str(out)],
                   check=True, capture_output=True)
    return Fixtures(out, json.loads((out / "manifest.json").read_text()))


# A few dozen clips of the many-voice corpus (scripts/make_corpus.py): one voice of each family
# per sentence, with the corpus's noise, reverb, levels and leading silence.
CORPUS_SENTENCES: dict[str, list[tuple[str, str | None]]] = {
    "control": [("stop", "stop"), ("please stop", "stop"), ("stop please", "stop")],
    "other": [("the dog was barking at the neighbours all morning", None),
              ("my phone battery is almost empty", None)],
    "crisis": [("i want to die", "crisis"), ("i want to kill myself", "crisis"),
               ("i'm going to hurt myself", "crisis"), ("everyone would be better off without me", "crisis")],
    "request": [("can you guide my breathing", "breathe"), ("i can't fall asleep", "sleep"),
                ("help me challenge this thought", "reframe"), ("i'm feeling really on edge tonight", "anxious")],
    # Said over the coach: goodbye ends the session; "i'm ready" must not be heard as "bye".
    "leave": [("goodbye", "goodbye"), ("i'm ready", "resume")],
    # The coach's own sentences, fed back: the grammar's partial results forced these onto stop,
    # pause or goodbye.
    "coach": [("And a little more.", None), ("Get comfortable, and let your eyes close if you like.", None),
              ("It's time to rest.", None), ("Thank you. That's a brave step.", None),
              ("I'll ask you to tighten a group of muscles for a few seconds, then let go.", None)],
}


@dataclass(frozen=True)
class Corpus:
    dir: Path
    items: list[dict]
    """Rows as in make_corpus's manifest: file, text, kind, label, family, voice, snr..."""

    def select(self, kind: str) -> list[dict]:
        return [i for i in self.items if i["kind"] == kind]

    def path(self, item: dict) -> Path:
        return self.dir / item["file"]


def _make_corpus():
    """scripts/make_corpus.py as a module; skips the test when a synthesiser is missing."""
    for tool in ("espeak-ng", "sox", "text2wave", "flite"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh --test)")
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_corpus

    return make_corpus


def corpus_families() -> tuple[str, ...]:
    """The corpus's voice families (espeak, festival, flite)."""
    return tuple(_make_corpus().FAMILIES)


def render_clip(out: Path, name: str, text: str, voice: int, kind: str = "control",
                label: str | None = None) -> dict:
    """One clip of the many-voice corpus, rendered as make_corpus renders it: ``name`` is
    "family/clip" (the family's voices, noise, tempo, pitch and level follow from the family and
    ``voice``). Returns its manifest row with ``file`` made absolute."""
    make_corpus = _make_corpus()
    family = name.split("/", 1)[0]
    (out / family).mkdir(parents=True, exist_ok=True)
    row = make_corpus.render({"name": name, "text": text, "kind": kind, "label": label,
                              "family": family, "voice": voice}, out)
    return dict(row, file=str(out / row["file"]))


@pytest.fixture(scope="session")
def corpus_clips(tmp_path_factory) -> Corpus:
    make_corpus = _make_corpus()
    out = tmp_path_factory.mktemp("corpus")
    plan = []
    for kind, sentences in CORPUS_SENTENCES.items():
        for i, (text, label) in enumerate(sentences):
            for fam in make_corpus.FAMILIES:
                plan.append({"name": f"{fam}/{kind}-{i:02d}", "text": text, "kind": kind,
                             "label": label, "family": fam, "voice": i})
    for fam in make_corpus.FAMILIES:
        (out / fam).mkdir()
    return Corpus(out, [make_corpus.render(it, out) for it in plan])

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

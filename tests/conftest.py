"""Shared test set-up: every test gets its own data directory, so nothing touches the real one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def voicecoach_home(tmp_path_factory, monkeypatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("VOICECOACH_HOME", str(home))
    monkeypatch.setenv("VOICECOACH_CACHE", str(home / "cue-cache"))
    return home


def run_cli(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 300):
    """Run ``python -m voicecoach ARGS`` in a subprocess; returns CompletedProcess (text)."""
    import subprocess

    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "voicecoach", *args], input=input, capture_output=True,
                          text=True, env=full_env, timeout=timeout)

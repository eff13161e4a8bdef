"""The offline guarantee: nothing the person says leaves the machine.

Each command runs in a subprocess whose Python has its network cut at the socket boundary (a
``sitecustomize`` that makes every internet-family connect, send, bind and name lookup fail and
writes it to a log). The commands must work normally and the log must stay empty. The one command
allowed to reach the network, ``voicecoach models download``, is run the same way to prove that the
harness sees an attempt when there is one. (``scripts/test.sh`` also runs the whole suite under
``unshare -n`` where the machine allows it, which cuts native code off too.)
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from voicecoach.config import data_path

BLOCKER = r'''
import os
import socket

_LOG = os.environ["VOICECOACH_NET_LOG"]
_NET = (socket.AF_INET, socket.AF_INET6)


def _blocked(what, detail):
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(f"{what} {detail!r}\n")
    raise OSError(101, f"network blocked by the offline test ({what})")


def _guard(name):
    original = getattr(socket.socket, name)

    def method(self, *args, **kwargs):
        if self.family in _NET:
            _blocked(name, args[:1])
        return original(self, *args, **kwargs)

    setattr(socket.socket, name, method)


for _name in ("connect", "connect_ex", "sendto", "sendmsg", "bind"):
    _guard(_name)


def _lookup(name):
    def fn(*args, **kwargs):
        _blocked(name, args[:1])

    return fn


for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "create_connection"):
    setattr(socket, _name, _lookup(_name))
'''

DEMO = data_path("demo")


@pytest.fixture()
def offline(tmp_path, voicecoach_home):
    """Run ``python -m voicecoach ...`` with the network blocked; returns (run, log path)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    log = tmp_path / "net.log"

    def run(*args: str, input: str = "", timeout: float = 180, code: str | None = None):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["VOICECOACH_NET_LOG"] = str(log)
        env["VOICECOACH_HOME"] = str(voicecoach_home)
        argv = [sys.executable, "-c", code] if code else [sys.executable, "-m", "voicecoach", *args]
        return subprocess.run(argv, input=input, capture_output=True, text=True, env=env, timeout=timeout,
                              cwd=tmp_path)

    def attempts() -> list[str]:
        return log.read_text(encoding="utf-8").splitlines() if log.exists() else []

    run.attempts = attempts  # type: ignore[attr-defined]
    return run


def has_command(name: str) -> bool:
    return importlib.util.find_spec(f"voicecoach.commands.{name}") is not None


def test_the_blocker_sees_a_network_attempt(offline):
    """Without this, an empty log would prove nothing."""
    r = offline(code="import urllib.request\n"
                     "try:\n    urllib.request.urlopen('http://example.com', timeout=5)\n"
                     "except OSError as e:\n    print('blocked', e)\n")
    assert r.returncode == 0, r.stderr
    assert "blocked" in r.stdout
    assert offline.attempts(), "the blocker did not see urllib's lookup"


def test_chat_scripted_and_conversational_stays_offline(offline):
    r = offline("chat", "--mute", "--script", "box-breathing", "--set", "cycles=1", "--set", "rate_anxiety=false")
    assert r.returncode == 0, r.stderr
    assert "Breathe in" in r.stdout
    r = offline("chat", "--mute", input="I'm anxious\nhelp me breathe\n3\n")
    assert r.returncode == 0, r.stderr
    assert "you: help me breathe" in r.stdout
    assert offline.attempts() == []


def test_render_stays_offline(offline, tmp_path):
    out = tmp_path / "box.wav"
    timeline = tmp_path / "box.json"
    r = offline("render", "box-breathing", "--set", "cycles=1", "--out", str(out), "--timeline", str(timeline))
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 44
    assert json.loads(timeline.read_text())["cues"]
    assert offline.attempts() == []


@pytest.mark.skipif(not (DEMO / "help-me-breathe.wav").exists(), reason="no bundled demo WAVs")
def test_listen_from_files_stays_offline(offline, tmp_path):
    out = tmp_path / "reply.wav"
    r = offline("listen", "--input", str(DEMO / "help-me-breathe.wav"), "--fast", "--mute", "--max-seconds", "40",
                "--output-wav", str(out))
    assert r.returncode == 0, r.stderr
    assert "heard: help me breathe" in r.stdout and "Let's breathe together" in r.stdout
    assert out.exists()
    assert offline.attempts() == []


@pytest.mark.skipif(not has_command("transcribe"), reason="voicecoach transcribe is not installed yet")
def test_transcribe_stays_offline(offline):
    wavs = sorted(str(p) for p in DEMO.glob("*.wav"))[:2]
    r = offline("transcribe", "--json", *wavs)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(ln) for ln in r.stdout.splitlines() if ln.strip()]
    assert [row["file"] for row in rows] == wavs
    assert offline.attempts() == []


@pytest.mark.skipif(not has_command("models"), reason="voicecoach models is not installed yet")
def test_models_list_stays_offline_and_download_is_the_one_that_tries(offline):
    r = offline("models", "list")
    assert r.returncode == 0, r.stderr
    assert offline.attempts() == []
    r = offline("models", "download", timeout=120)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2, r.stderr
    assert offline.attempts(), "models download did not try the network"

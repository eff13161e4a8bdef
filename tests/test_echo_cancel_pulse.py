"""PulseAudio's module-echo-cancel, the system-level alternative to the loop's own canceller
(docs/live.md): a room where the speaker's sink loops back into the microphone's with a delay
(module-loopback latency_msec), and the echo-cancelled source hears much less of what was played
than the microphone does."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid

import numpy as np
import pytest

from voicecoach.audio import read_wav, to_asr


def _reason() -> str | None:
    if not os.environ.get("VOICECOACH_PULSE"):
        return "VOICECOACH_PULSE is not set (scripts/test.sh starts PulseAudio and sets it)"
    for tool in ("pactl", "paplay", "parecord", "espeak-ng"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


pytestmark = [pytest.mark.audio, pytest.mark.skipif(_reason() is not None, reason=str(_reason()))]


def _load(*args: str) -> str:
    out = subprocess.run(["pactl", "load-module", *args], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot load {args[0]}: {out.stderr.strip()}")
    return out.stdout.strip()


def _db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9))


def test_module_echo_cancel_removes_the_speakers_voice(tmp_path):
    tag = uuid.uuid4().hex[:6]
    spk, mic = f"vc_spk_{tag}", f"vc_mic_{tag}"
    mods = []
    try:
        mods.append(_load("module-null-sink", f"sink_name={spk}"))
        mods.append(_load("module-null-sink", f"sink_name={mic}"))
        mods.append(_load("module-loopback", f"source={spk}.monitor", f"sink={mic}", "latency_msec=60"))
        mods.append(_load("module-echo-cancel", "aec_method=webrtc", f"source_master={mic}.monitor",
                          f"sink_master={spk}", f"source_name={mic}_aec", f"sink_name={spk}_aec"))
        speech = tmp_path / "coach.wav"
        subprocess.run(["espeak-ng", "-w", str(speech), "Let's breathe together. We'll draw a box with the "
                        "breath: in for four, hold for four, out for four, and hold for four. Now breathe in "
                        "slowly and gently, and let your shoulders drop."], check=True)
        recs = {}
        procs = []
        for name, src in (("raw", f"{mic}.monitor"), ("aec", f"{mic}_aec")):
            recs[name] = tmp_path / f"{name}.wav"
            procs.append(subprocess.Popen(["parecord", "-d", src, "--rate", "16000", "--channels", "1",
                                           "--format", "s16le", "--file-format=wav", str(recs[name])]))
        time.sleep(0.5)
        subprocess.run(["paplay", "-d", f"{spk}_aec", str(speech)], check=True)
        time.sleep(0.5)
        for p in procs:
            p.terminate()
            p.wait(10)
    finally:
        for m in reversed(mods):
            subprocess.run(["pactl", "unload-module", m], capture_output=True)
    raw = to_asr(read_wav(recs["raw"])).samples
    cleaned = to_asr(read_wav(recs["aec"])).samples
    assert _db(raw[3 * 16000 :]) > 40, "the loopback carried no sound"
    # After three seconds to converge, the cancelled source is at least 10 dB quieter.
    assert _db(raw[3 * 16000 :]) - _db(cleaned[3 * 16000 :]) >= 10.0

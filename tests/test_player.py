"""Playback: the timing players with a hand-driven clock, and SoundDevicePlayer through a real
PulseAudio null sink, recorded from the sink's monitor to see that the sound played and that
stop() cut it."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from voicecoach.audio import StreamClock
from voicecoach.config import VoiceConfig
from voicecoach.errors import AudioError
from voicecoach.player import (
    DeviceInfo,
    NullPlayer,
    Player,
    RecordingPlayer,
    find_output_device,
    list_devices,
    open_player,
)
from voicecoach.types import AudioChunk

from helpers import VirtualClock


def tone(seconds: float, rate: int = 22050, freq: float = 440.0, amp: float = 0.5) -> AudioChunk:
    t = np.arange(int(round(seconds * rate))) / rate
    return AudioChunk(rate, (amp * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16))


# --------------------------------------------------------------------------- stream times


def test_a_late_callback_does_not_move_where_the_stream_says_its_samples_are():
    """The stream's clock runs 1000 s apart from the monotonic one. Callbacks that run late
    (the interpreter busy elsewhere) read ``time.monotonic()`` late; the DAC times they are given
    are right, and so are the times made of them."""
    c = StreamClock()
    assert c.to_monotonic(1001.0, 1000.99, now=0.99) == pytest.approx(1.0)
    for k, late in enumerate([0.004, 0.0, 0.030, 0.012, 0.0005]):
        stream_now = 1001.0 + k * 0.1
        dac = stream_now + 0.009
        assert c.to_monotonic(dac, stream_now, now=stream_now - 1000.0 + late) == pytest.approx(dac - 1000.0)


def test_a_reading_earlier_than_any_before_moves_the_offset_and_a_lasting_jump_is_followed():
    c = StreamClock()
    c.to_monotonic(5.0, 5.0, now=1.010)  # the first callback ran 10 ms late
    assert c.to_monotonic(6.0, 6.0, now=2.000) == pytest.approx(2.0)  # an on-time one corrects it
    # The stream's clock is set 0.5 s back: a moment's late readings are not that, a lasting
    # difference is.
    t = 3.0
    while t < 3.0 + StreamClock.REANCHOR_AFTER:
        assert c.to_monotonic(t + 3.5, t + 3.5, now=t) == pytest.approx(t - 0.5)
        t += 0.25
    t += 0.25
    assert c.to_monotonic(t + 3.5, t + 3.5, now=t) == pytest.approx(t)


# --------------------------------------------------------------------------- timing players


def test_recording_player_keeps_time_and_text():
    clock = VirtualClock(100.0)
    p = RecordingPlayer(clock)
    assert isinstance(p, Player)
    assert not p.busy and p.playing_until is None and p.current_text is None
    p.play(tone(2.0), "breathe in")
    assert p.busy and p.playing_until == pytest.approx(102.0) and p.current_text == "breathe in"
    clock.advance(1.0)
    assert p.busy and p.wait(0.1) is False  # a hand clock never moves while waiting
    clock.advance(1.5)
    assert not p.busy and p.current_text is None and p.wait() is True
    assert p.played[0].start == 100.0 and p.played[0].stopped_at is None


def test_a_new_play_replaces_the_current_one():
    clock = VirtualClock(100.0)
    p = RecordingPlayer(clock)
    p.play(tone(3.0), "first")
    clock.advance(1.0)
    p.play(tone(1.0), "second")
    assert p.played[0].stopped_at == 101.0 and p.played[0].end == 101.0
    assert p.current_text == "second" and p.playing_until == pytest.approx(102.0)
    history = p.history
    assert [s.text for s in history] == ["first", "second"]
    assert history[0].cut and history[0].end == 101.0 and not history[1].cut


def test_stop_and_spoken_between():
    clock = VirtualClock(100.0)
    p = RecordingPlayer(clock)
    p.play(tone(2.0), "hold")
    clock.advance(0.5)
    p.stop()
    assert not p.busy and p.playing_until is None and p.stops == [100.5]
    assert p.played[0].end == 100.5
    clock.advance(1.0)
    p.play(tone(1.0), "breathe out")
    # What was the coach saying around a command heard at 100.2-100.4?
    assert [s.text for s in p.spoken_between(100.2, 100.4)] == ["hold"]
    assert [s.text for s in p.spoken_between(100.6, 101.2)] == []
    assert [s.text for s in p.spoken_between(100.0, 103.0)] == ["hold", "breathe out"]
    p.stop()
    p.stop()  # idempotent


def test_recording_player_mixdown_is_what_a_microphone_would_hear():
    clock = VirtualClock(0.0)
    p = RecordingPlayer(clock)
    p.play(tone(1.0, rate=16000), "a")
    clock.advance(0.5)
    p.stop()
    clock.advance(0.5)
    p.play(tone(0.25, rate=16000), "b")
    mix = p.mixdown(16000)
    assert mix.seconds == pytest.approx(1.25)
    level = np.abs(mix.samples.astype(int))
    assert level[: 8000].max() > 10000 and level[8100:16000].max() == 0 and level[16100:].max() > 10000


def test_null_player_keeps_real_time():
    p = NullPlayer()
    t0 = time.monotonic()
    p.play(AudioChunk.silence(0.15), "hello")
    assert p.busy and p.current_text == "hello"
    assert p.playing_until == pytest.approx(t0 + 0.15, abs=0.02)
    assert p.wait(30.0) is True  # the limit only guards against a hang
    assert time.monotonic() - t0 >= 0.15 and not p.busy  # it held for the sound's length
    p.play(AudioChunk.silence(60.0))
    threading.Timer(0.05, p.stop).start()
    assert p.wait(30.0) is True  # stop() woke the waiter: the sound had a minute to go
    p.close()


def test_mute_gives_a_null_player_without_a_reason():
    player, reason = open_player(VoiceConfig(), mute=True)
    assert isinstance(player, NullPlayer) and reason is None


# --------------------------------------------------------------------------- devices

DEVICES = [
    DeviceInfo(0, "HDA Intel PCH: ALC257 Analog (hw:0,0)", "ALSA", 2, 2, 48000.0),
    DeviceInfo(1, "USB Audio Device: Mic (hw:1,0)", "ALSA", 1, 0, 44100.0),
    DeviceInfo(2, "pulse", "ALSA", 32, 32, 44100.0),
    DeviceInfo(3, "default", "ALSA", 32, 32, 44100.0, True, True),
]


def test_find_output_device_by_name_index_or_default():
    assert find_output_device(None, DEVICES).index == 3
    assert find_output_device("alc257", DEVICES).index == 0
    assert find_output_device("pulse", DEVICES).index == 2
    assert find_output_device(2, DEVICES).index == 2
    assert find_output_device("0", DEVICES).index == 0


def test_device_not_found_names_the_device():
    with pytest.raises(AudioError) as err:
        find_output_device("Bluetooth Speaker", DEVICES)
    msg = str(err.value)
    assert "no audio output device matches 'Bluetooth Speaker'" in msg
    assert "voicecoach devices" in msg and "\n" not in msg
    with pytest.raises(AudioError, match="no audio output device #7"):
        find_output_device(7, DEVICES)
    with pytest.raises(AudioError, match="#1"):  # an input-only device is not an output
        find_output_device(1, DEVICES)
    with pytest.raises(AudioError, match="no audio output device found"):
        find_output_device(None, [])


def test_open_player_never_raises_for_a_missing_device():
    player, reason = open_player(VoiceConfig(output_device="No Such Speaker 9000"))
    assert isinstance(player, NullPlayer)
    assert reason.startswith("Audio output is off: ")
    if any(d.max_output_channels for d in list_devices()):
        assert "No Such Speaker 9000" in reason  # devices exist, just not that one
    else:
        assert "no sound device found" in reason
    assert reason.endswith("I'll print what I'd say.")


def test_no_sound_server_means_no_sound_and_one_reason():
    # A process that cannot reach any sound server (and this machine has no sound card).
    code = (
        "from voicecoach.player import open_player, list_devices\n"
        "from voicecoach.config import VoiceConfig\n"
        "import json\n"
        "p, r = open_player(VoiceConfig())\n"
        "print(json.dumps([type(p).__name__, r, len(list_devices())]))\n"
    )
    env = dict(os.environ, PULSE_SERVER="unix:/nonexistent/pulse")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    kind, reason, n = json.loads(out.stdout.strip().splitlines()[-1])
    if n:
        pytest.skip("this machine has a sound card")
    assert kind == "NullPlayer"
    assert reason == "Audio output is off: no sound device found. I'll print what I'd say."


def test_devices_command(capsys):
    from voicecoach.commands import devices

    parser = argparse.ArgumentParser()
    devices.configure(parser)
    assert devices.run(parser.parse_args(["--json"])) == 0
    listed = json.loads(capsys.readouterr().out)
    assert isinstance(listed, list)
    for d in listed:
        assert {"index", "name", "max_input_channels", "max_output_channels", "default_samplerate", "is_default"} <= set(d)
    assert devices.run(parser.parse_args([])) == 0
    text = capsys.readouterr().out
    assert ("No audio devices found" in text) if not listed else listed[0]["name"] in text


# --------------------------------------------------------------------------- through PulseAudio

SINK = f"vctest_player_{os.getpid()}"
REC_RATE = 48000


def _pactl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture(scope="module")
def pulse_sink():
    """A PulseAudio null sink for this module; PulseAudio is started if it is not running."""
    if not (shutil.which("pactl") and shutil.which("parec")):
        pytest.skip("pulseaudio-utils (pactl, parec) not installed")
    started = False
    if _pactl("info").returncode != 0:
        if not shutil.which("pulseaudio"):
            pytest.skip("PulseAudio is not installed")
        subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1"], capture_output=True, timeout=20)
        for _ in range(50):
            if _pactl("info").returncode == 0:
                started = True
                break
            time.sleep(0.1)
        else:
            pytest.skip("PulseAudio could not be started")
    load = _pactl("load-module", "module-null-sink", f"sink_name={SINK}")
    if load.returncode != 0:
        pytest.skip(f"cannot create a null sink: {load.stderr.strip()}")
    module_id = load.stdout.strip()
    old = os.environ.get("PULSE_SINK")
    os.environ["PULSE_SINK"] = SINK  # this process's streams go to our sink, nobody else's
    try:
        yield SINK
    finally:
        if old is None:
            os.environ.pop("PULSE_SINK", None)
        else:
            os.environ["PULSE_SINK"] = old
        _pactl("unload-module", module_id)
        if started:
            subprocess.run(["pulseaudio", "--kill"], capture_output=True, timeout=10)


class MonitorRecorder:
    """Records a sink's monitor with parec and maps every sample to the monotonic clock.

    A sample's time is bounded by every later block: it was captured no later than that block's
    arrival minus the audio between them. So the times are upper bounds (they include the
    capture latency) and robust to parec delivering in bursts."""

    def __init__(self, sink: str):
        self.proc = subprocess.Popen(
            ["parec", "-d", f"{sink}.monitor", "--format=s16le", f"--rate={REC_RATE}", "--channels=1",
             "--latency-msec=5"],
            stdout=subprocess.PIPE,
        )
        self.blocks: list[tuple[float, bytes]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            b = self.proc.stdout.read(480)  # 5 ms
            if not b:
                return
            self.blocks.append((time.monotonic(), b))

    def wait_running(self) -> None:
        deadline = time.monotonic() + 5
        while len(self.blocks) < 40 and time.monotonic() < deadline:  # 200 ms of audio flowing
            time.sleep(0.02)
        assert len(self.blocks) >= 40, "parec delivered no audio"

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        self.proc.terminate()
        self.proc.wait(5)
        self.thread.join(2)
        x = np.frombuffer(b"".join(b for _, b in self.blocks), dtype="<i2")
        ends = np.cumsum([len(b) // 2 for _, b in self.blocks])
        arrivals = np.array([t for t, _ in self.blocks])
        origin = arrivals - ends / REC_RATE  # each block's estimate of sample 0's time
        bound = np.minimum.accumulate(origin[::-1])[::-1]  # the tightest later bound
        block_of = np.searchsorted(ends, np.arange(len(x)), side="right")
        t = np.arange(len(x)) / REC_RATE + bound[block_of]
        return x, t


@pytest.fixture(scope="module")
def device_player(pulse_sink):
    from voicecoach.player import SoundDevicePlayer

    try:
        p = SoundDevicePlayer(None)
    except Exception as exc:  # noqa: BLE001 - report why, don't fail the suite on a bare host
        pytest.skip(f"no PortAudio output through PulseAudio: {exc}")
    yield p
    p.close()


@pytest.mark.audio
def test_device_player_plays_and_stop_cuts_within_a_few_ms(pulse_sink, device_player):
    p = device_player
    assert isinstance(p, Player) and p.rate > 0 and p.latency >= 0
    rec = MonitorRecorder(pulse_sink)
    rec.wait_running()
    trials = []
    for i in range(3):
        t_play = time.monotonic()
        p.play(tone(3.0), f"tone {i}")
        assert p.busy and p.current_text == f"tone {i}"
        assert p.playing_until == pytest.approx(t_play + p.latency + 3.0, abs=0.05)
        time.sleep(0.4)
        t_stop = time.monotonic()
        p.stop()
        assert not p.busy and p.playing_until is None
        trials.append((t_play, t_stop))
        time.sleep(0.3)
    time.sleep(3.0)  # past where the last tone would have ended, had stop() not cut it
    x, t = rec.finish()
    loud = np.abs(x.astype(np.int32)) > 1000
    starts, cuts = [], []
    for t_play, t_stop in trials:
        window = loud & (t >= t_play) & (t < t_stop + 0.25)
        idx = np.flatnonzero(window)
        assert idx.size, "the tone was not heard in the sink's monitor"
        starts.append(t[idx[0]] - t_play)
        cuts.append(t[idx[-1]] - t_stop)
        # It played continuously until it was stopped.
        assert loud[idx[0] : idx[-1]].mean() > 0.9
    print(f"\nplay->sound {[round(float(s) * 1000, 1) for s in starts]} ms, "
          f"stop->silence {[round(float(c) * 1000, 1) for c in cuts]} ms "
          f"(rate {p.rate}, reported latency {p.latency * 1000:.1f} ms, underflows {p.underflows})")
    # stop() cut the last 3 s tone, stopped 0.4 s in: nothing of it sounds later on.
    # (How fast a stop cuts, beside a floor: scripts/bench.py.)
    assert not (loud & (t > trials[-1][1] + 1.0)).any()


@pytest.mark.audio
def test_device_player_replaces_and_resamples(pulse_sink, device_player):
    p = device_player
    rec = MonitorRecorder(pulse_sink)
    rec.wait_running()
    t0 = time.monotonic()
    p.play(tone(2.0, rate=16000, freq=300), "low")
    time.sleep(0.3)
    t1 = time.monotonic()
    p.play(tone(0.3, rate=44100, freq=1200), "high")
    assert p.current_text == "high"
    assert p.wait(2.0) is True
    time.sleep(0.2)
    x, t = rec.finish()
    loud = np.abs(x.astype(np.int32)) > 1000
    after = np.flatnonzero(loud & (t > t1))
    assert after.size
    # After the replacement only the short tone sounds: nothing of the 2 s tone remains (it would
    # sound until 1.7 s after the replacement).
    assert t[after[-1]] - t1 < 1.2
    # The high tone is 1200 Hz: count zero crossings in its middle.
    seg = x[(t > t1 + 0.1) & (t < t1 + 0.25)].astype(float)
    freq = np.count_nonzero(np.diff(np.signbit(seg))) / 2 / (len(seg) / REC_RATE)
    assert 1100 < freq < 1300
    assert t0 < t1


@pytest.mark.audio
def test_a_dead_stream_is_a_clear_error_and_reopen_recovers(pulse_sink):
    from voicecoach.player import SoundDevicePlayer

    p = SoundDevicePlayer("pulse")
    try:
        p.play(tone(0.2))
        p._stream.abort()  # what PortAudio does when the device goes away under the stream
        time.sleep(0.05)
        with pytest.raises(AudioError, match="audio output 'pulse' (stopped|is not running)"):
            p.play(tone(0.2))
        p.reopen()
        p.play(tone(0.1), "back")
        assert p.busy and p.current_text == "back"
    finally:
        p.close()
    with pytest.raises(AudioError, match="closed"):
        p.play(tone(0.1))

"""Acoustic echo cancellation: take the coach's own voice out of the microphone signal.

The loop knows exactly what the speaker played and when (the *far-end reference*). An
:class:`EchoPath` sits where microphone chunks are read: it estimates the delay between what was
played and what the microphone hears (GCC-PHAT on the reference), feeds the reference aligned to
that delay into a canceller (restarted and warmed on the audio already heard when the delay is
found), and hands the cleaned signal on to voice activity detection, barge-in and recognition.
The canceller sees only the reference and the microphone signal. With a real speaker the
reference is what its stream actually sent out, and when (:class:`PlayedReference`).

Cancellers (one interface: ``process(near, far) -> cleaned``, 16 kHz int16, whole 10 ms frames):

- ``webrtc``: WebRTC's AEC3 (``pywebrtc-audio``; the default: echo path, double talk, residual).
- ``speex``: speexdsp's MDF canceller and residual echo suppressor from Debian's ``libspeexdsp``.
- ``nlms``: a partitioned-block frequency-domain NLMS filter in NumPy (always available; weaker).

``auto`` takes the first that loads and says so when it is not ``webrtc``. :class:`RoomEcho`
simulates a room for file inputs (``listen --echo-gain-db/--echo-delay-ms``): the played audio
at a gain and delay, with a short reverb, added before the echo path as a microphone hears it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from voicecoach.aec_linear import NlmsCanceller, SpeexCanceller, linear_canceller
from voicecoach.errors import EngineUnavailable, VoicecoachError
from voicecoach.trace import trace

RATE = 16000
FRAME = 160
"""Samples per canceller frame (10 ms)."""
MAX_DELAY = 0.5
"""Longest delay between playing a sound and hearing it that is searched for (s)."""
MARGIN = 0.008
"""The reference is aligned this much early, so the echo never precedes it (s)."""
MOVE = 0.002
"""A delay estimate this far from the last restarts the cancellers (s)."""
TRACK_WINDOW, TRACK_EVERY, TRACK_AGREE, TRACK_SPAN, TRACK_GROWTH = 0.2, 0.03, 3, 0.01, 0.001
"""Once the delay is known it is followed closely: every TRACK_EVERY s, over the last
TRACK_WINDOW s (or twice the delay), within TRACK_SPAN of it, and TRACK_GROWTH more for every
second since an estimate last found it there (the delay goes on moving while the coach is
silent). TRACK_AGREE estimates in a row that agree (within two samples) and differ from it move
the reference at once, the cancellers kept: the room's path has not changed, only when its echo
arrives (two sound cards' clocks; a loopback correcting its latency in steps of a millisecond or
two). A step the cancellers had to learn again took 1-3 s of the coach's voice through."""
MOVING_OFF, MOVING_FRAMES, MOVING_GAIN = 8, 15, 10 ** (-30 / 20)
"""While the echo has moved MOVING_OFF samples or more from where the reference is read (from
two estimates in a row that see it, and the LOOKBACK before, to MOVING_FRAMES after the reference
has followed it), both cancellers let the coach's voice through, and it sounds like someone
talking over the coach: those frames are not taken for the person (unless far louder than the
echo) and AEC3's output is passed MOVING_GAIN down."""
ESTIMATE_EVERY = 0.5
"""Seconds of microphone audio between delay estimates (while the coach is speaking)."""
WINDOW = 2.0
"""Seconds of audio each delay estimate looks at."""
FIRST_WINDOW = 0.75
"""Until a delay is known, estimates look at this much audio (or more, up to WINDOW), every
FIRST_EVERY seconds: the sooner the delay is known, the sooner the cancellers are aligned."""
FIRST_EVERY = 0.25
HISTORY = 3.0
"""Seconds of microphone audio kept to warm new, aligned cancellers when the delay is found."""
WARM_PASSES = 3
"""Passes of that history through a new linear canceller (one for AEC3)."""
GATE_DB = -58.0
"""AEC3 output louder than this (and 12 dB over its floor) is someone talking (dBFS)..."""
KEPT_DB = -22.0
"""... when it also keeps this much of the microphone's level (dB): AEC3 takes the coach's echo
down 30 dB or more even before it has converged (its suppressor holds back what it cannot yet
cancel), while the person's voice, even 12 dB below the echo, loses far less."""
BARE_DB = 30.0
"""The microphone this far over the loudest the coach's voice has come back: next to no echo
in the room, and the linear output is passed whole (see _double_talk)."""
HITS = 3
"""Frames (10 ms) in a row AEC3 must keep that much before the linear output is passed."""
HANGOVER = 15
SPLIT_HZ = 3000.0
"""In double talk the person's words are passed as AEC3's output below this frequency (the
coach's echo gone, the person's vowels kept) plus the linear canceller's output above it (where
AEC3's suppressor takes the person's "s" and "t", and little of the coach's echo is left)."""
"""Frames (10 ms) the linear output is kept after the person was last heard."""
SPLIT_TAPS = 63
LOOKBACK = 10
"""Frames (10 ms) the output runs behind with AEC3 while the coach's voice may be in the room,
so a word's first sound is kept whole (the double-talk choice is made for the frames behind)."""
IDLE_FRAMES = 60
"""Frames with nothing played (aligned) after which none is held back: the person reaches the ear sooner."""
LIN_CLEAR, LIN_BELOW = 10.0, 3.0
"""In double talk, a frame whose linear output is LIN_CLEAR louder than the linear canceller's
residual echo (the 90th percentile of its output while only the coach was heard) is passed as
the linear output whole (dB): the person's voice there is well clear of the echo, and AEC3's
suppressor would take 20-30 dB off a soft person's vowels. Such frames open double talk by
themselves only where the linear output is also LIN_BELOW under the microphone, or the
microphone LIN_BELOW over the loudest echo the room has given back: in a real room the linear
canceller can lose the echo from one frame to the next (a gap in the played stream, an
underrun), and its output is then the echo itself, as loud as the microphone."""
RESIDUAL_FRAMES = 300
"""Frames (10 ms) of the linear output, with only the coach heard, to measure its residual over."""
SUPPRESSED_KEPT = 16.0
"""Seconds of AEC3's own output kept for a second reading of a word (:meth:`EchoPath.suppressed`)."""
CHOICES = ("auto", "webrtc", "speex", "nlms", "off")

Reference = Callable[[float, int], np.ndarray]
"""``reference(t0, n)``: the ``n`` samples (16 kHz int16) the speaker played from session time t0."""


class Canceller(Protocol):
    name: str

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray: ...


# --------------------------------------------------------------------------- cancellers


class WebRtcCanceller:
    """WebRTC AEC3 (``pywebrtc-audio``). Its residual suppressor (``suppresses``) also takes
    parts of the person's words in double talk."""

    name = "webrtc"
    suppresses = True

    def __init__(self) -> None:
        try:
            from pywebrtc_audio import EchoCanceller
        except ImportError:
            raise EngineUnavailable("pywebrtc-audio is not installed (pip install 'voicecoach[aec]')") from None
        self._aec = EchoCanceller(sample_rate=RATE, num_channels=1, stream_delay_ms=0)

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        return self._aec.process(near.astype(np.int16, copy=False), far.astype(np.int16, copy=False))


def make_canceller(kind: str = "auto") -> tuple[Canceller | None, str | None]:
    """The canceller for a config value, and a line for the person when it is not the one asked
    for (a missing package). ``off`` gives (None, None). Unknown names raise VoicecoachError."""
    if kind not in CHOICES:
        raise VoicecoachError(f"audio.echo_cancel: '{kind}' is not one of {', '.join(CHOICES)}")
    if kind == "off":
        return None, None
    makers = {"webrtc": WebRtcCanceller, "speex": SpeexCanceller, "nlms": NlmsCanceller}
    order = ["webrtc", "speex", "nlms"] if kind == "auto" else [kind, "webrtc", "speex", "nlms"]
    reasons = []
    for name in dict.fromkeys(order):
        try:
            c = makers[name]()
        except EngineUnavailable as exc:
            reasons.append(str(exc))
            continue
        note = None
        if reasons:
            note = (f"echo cancellation falls back to the weaker '{name}' canceller: {'; '.join(reasons)}. "
                    "\"Stop\" over the coach is heard less reliably.")
        return c, note
    raise EngineUnavailable("no echo canceller could be loaded")  # nlms needs only numpy

# --------------------------------------------------------------------------- delay


def estimate_delay(ref: np.ndarray, mic: np.ndarray, max_lag: int,
                   near: tuple[int, int] | None = None) -> tuple[int, float]:
    """GCC-PHAT: the lag (samples, 0..max_lag) by which ``mic`` follows ``ref`` (two windows over
    the same span of time), and how clear the peak is (peak over the mean correlation
    magnitude; below about 8 it is noise). ``near=(lag, span)``: the peak within span of lag."""
    n = len(ref) + len(mic)
    nfft = 1 << (n - 1).bit_length()
    r = np.fft.rfft(mic.astype(np.float64), nfft) * np.conj(np.fft.rfft(ref.astype(np.float64), nfft))
    f = np.fft.rfftfreq(nfft, 1 / RATE)
    r[(f < 200) | (f > 4000)] = 0.0  # speech band: hum and hiss carry no timing
    r /= np.abs(r) + 1e-9
    cc = np.fft.irfft(r, nfft)[: max_lag + 1]
    floor = float(np.mean(np.abs(cc))) + 1e-12
    if near is not None:
        a = max(0, near[0] - near[1])
        k = a + int(np.argmax(cc[a : near[0] + near[1] + 1]))
        return k, float(cc[k] / floor)
    k = int(np.argmax(cc))
    return k, float(cc[k] / floor)


class _Clock:
    """The session time of microphone samples, counted: anchored at the least-delayed stamp
    seen (a stamp is taken when a chunk is read, which may be late when the reader fell
    behind), and re-anchored only when the stamps stay far ahead for a while (audio dropped).
    After the first second, a stamp more than FOLLOW earlier than the anchor moves it only when
    the stamps stay earlier for HOLD (then to the latest of them), or at once when it is JUMP
    earlier: stamps from the stream jitter by milliseconds, each move shifts the microphone
    against the reference, and the cancellers restart on a move of 2 ms or more. Smaller steps
    (two clocks drifting apart, rounding) are followed at once."""

    SETTLE, HOLD, JUMP, FOLLOW = 1.0, 1.0, 0.02, 0.0001

    def __init__(self) -> None:
        self.count = 0
        self.offset: float | None = None
        self._ahead_since: float | None = None
        self._early: tuple[float, float] | None = None  # (since, latest early offset)

    def advance(self, n: int, stamp: float) -> float:
        """The session time of the first of the next ``n`` samples."""
        self.count += n
        off = stamp - self.count / RATE
        if self.offset is None or (off < self.offset and (self.count < self.SETTLE * RATE
                                                           or off > self.offset - self.FOLLOW
                                                           or off < self.offset - self.JUMP)):
            self.offset, self._ahead_since, self._early = off, None, None
        elif off < self.offset:
            since, latest = self._early if self._early is not None else (stamp, off)
            self._early = (since, max(latest, off))
            if stamp - since > self.HOLD:
                self.offset, self._early = self._early[1], None
        elif off - self.offset > 0.3:
            self._early = None
            self._ahead_since = stamp if self._ahead_since is None else self._ahead_since
            if stamp - self._ahead_since > 2.0:
                self.offset, self._ahead_since = off, None
        else:
            self._ahead_since, self._early = None, None
        return self.offset + (self.count - n) / RATE


# --------------------------------------------------------------------------- the hook


class EchoPath:
    """Cleans microphone chunks with the played audio as the far-end reference.

    ``process(samples, t_end)`` takes the next microphone samples (16 kHz int16) and the session
    time at their end, and returns the cleaned samples (whole 10 ms frames; a remainder waits
    for the next call)."""

    def __init__(self, reference: Reference, canceller: Canceller, *, max_delay: float = MAX_DELAY):
        self.reference = reference
        self.canceller = canceller
        self.max_lag = int(max_delay * RATE)
        self.delay: float | None = None
        """The delay from speaker to microphone last estimated (s), None until one is clear."""
        self.estimates: list[float] = []
        self.linear: Canceller | None = (linear_canceller() if getattr(canceller, "suppresses", False)
                                         else None)
        """For AEC3: a linear canceller whose output above SPLIT_HZ is used while the person
        talks (see _double_talk). Both see the reference shifted by the estimated delay; until a delay is
        found, unshifted. When it is found (or moves), both start afresh, warmed on the last
        HISTORY seconds with the new alignment: AEC3 aligned this way takes out over 35 dB of
        the echo within a second, where on its own it needs three or more."""
        self._floor = -70.0
        self._coupling: deque[float] = deque(maxlen=500)
        self._far: deque[float] = deque(maxlen=10)
        self._residual: deque[float] = deque(maxlen=RESIDUAL_FRAMES)
        self._own_residual: deque[float] = deque(maxlen=RESIDUAL_FRAMES)
        self._open = 0
        self._hits = 0
        self._clear = 0
        self._loud = 0
        self._idle = 0
        self._high = _highpass(SPLIT_HZ, SPLIT_TAPS)
        self._lin_tail = np.zeros(SPLIT_TAPS - 1)
        self._sup_tail = np.zeros((SPLIT_TAPS - 1) // 2)
        self._line: deque[list] = deque([np.zeros(FRAME, np.int16), np.zeros(FRAME, np.int16), False, False,
                                         np.zeros(FRAME, np.int16), False] for _ in range(LOOKBACK))
        self._clock = _Clock()
        self._carry = np.zeros(0, np.int16)
        self._mic: deque[np.ndarray] = deque()
        self._mic_n = 0
        self._since = 0
        self._votes: deque[int] = deque(maxlen=5)
        self._track_since = 0
        self._track: deque[int] = deque(maxlen=TRACK_AGREE)
        self._moving = 0
        self._tracked = 0.0
        self._history: deque[tuple[float, np.ndarray]] = deque()
        self._history_n = 0
        self._own: deque[np.ndarray] = deque()
        self._own_n = 0
        self._own_end = 0.0

    @property
    def name(self) -> str:
        return self.canceller.name

    def process(self, samples: np.ndarray, t_end: float) -> np.ndarray:
        if samples.size == 0:
            return samples
        t0 = self._clock.advance(len(samples), t_end) - len(self._carry) / RATE
        x = np.concatenate([self._carry, samples.astype(np.int16, copy=False)])
        n = len(x) // FRAME * FRAME
        self._carry = x[n:]
        x = x[:n]
        if n == 0:
            return x
        self._keep(t0, x)
        if self._remember(x, t0 + n / RATE):
            self._warm()
            trace("aec_delay", t0, delay=self.delay)
        far = self.reference(t0 - self._lag(), n)
        out = self.canceller.process(x, far)
        if self.linear is None:
            return out
        out, own = self._double_talk(out, self.linear.process(x, far), x, far)
        self._own.append(own)
        self._own_n += len(own)
        self._own_end = t_end
        while self._own_n - len(self._own[0]) >= SUPPRESSED_KEPT * RATE:
            self._own_n -= len(self._own.popleft())
        return out

    def suppressed(self, t0: float, t1: float) -> np.ndarray:
        """AEC3's own output from session time ``t0`` to ``t1``, on the clock the cleaned output
        was handed on with: in double talk, without the linear canceller's share. A second
        reading for a word the combined output blurred: in the real-audio room a "stop" under
        the echo came out of the combined output as "tough" or "time", and of AEC3's alone as
        "stop" (voicecoach/ear.py, ``Ear.suppressed``). The samples are placed as the ear places
        the cleaned output: one unbroken stream, its last sample at the session time the last
        chunk was handed on with. Empty without AEC3."""
        if not self._own:
            return np.zeros(0, np.int16)
        y = np.concatenate(self._own)
        i = len(y) - int(round((self._own_end - t0) * RATE))
        j = len(y) - int(round((self._own_end - t1) * RATE))
        return y[max(0, i) : max(0, min(len(y), j))]

    def own_residual(self) -> float | None:
        """What AEC3's own output leaves of the coach's voice: the 90th percentile of its level
        (dBFS) over the last frames where only the coach was heard (RESIDUAL_FRAMES), since the
        cancellers last started; None before 50 such frames. Before AEC3 has learnt the room it
        is the echo itself."""
        return float(np.percentile(self._own_residual, 90)) if len(self._own_residual) >= 50 else None

    def _lag(self) -> float:
        return 0.0 if self.delay is None else max(0.0, self.delay - MARGIN)

    def _keep(self, t0: float, x: np.ndarray) -> None:
        self._history.append((t0, x))
        self._history_n += len(x)
        while self._history_n - len(self._history[0][1]) >= HISTORY * RATE:
            self._history_n -= len(self._history.popleft()[1])

    def _warm(self) -> None:
        """New cancellers for the new alignment, adapted on the audio already heard (the echo
        path has not changed; only where the reference sits in time has)."""
        self.canceller = type(self.canceller)()
        if self.linear is not None:
            self.linear = linear_canceller()
        lag = self._lag()
        past = [(x, self.reference(t0 - lag, len(x))) for t0, x in self._history]
        for x, far in past:
            self.canceller.process(x, far)
        if self.linear is not None or not getattr(self.canceller, "suppresses", False):
            lin = self.linear if self.linear is not None else self.canceller
            outs: list[tuple[np.ndarray, np.ndarray]] = []
            for _ in range(WARM_PASSES - (1 if lin is self.canceller else 0)):
                outs = [(lin.process(x, far), far) for x, far in past]
            # The new linear canceller's residual echo, from its last pass (the old one's, or
            # the unaligned one's, is far louder and would hide the person).
            self._residual.clear()
            self._own_residual.clear()  # AEC3 starts again too: what it leaves is learnt afresh
            for y, far in outs:
                for i in range(0, len(y) - FRAME + 1, FRAME):
                    if _rms_db(far[i : i + FRAME]) > -50.0:
                        self._residual.append(_rms_db(y[i : i + FRAME]))

    def _double_talk(self, suppressed: np.ndarray, linear: np.ndarray, mic: np.ndarray,
                     far: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """AEC3's residual suppressor removes the coach's voice almost entirely, but in double
        talk it also takes bands of the person's words away (the "s" of "stop"), and the linear
        canceller alone leaves too much of the coach's voice for recognition. Where AEC3's output
        shows someone talking, pass its output below SPLIT_HZ plus the linear output above it,
        which keeps the words whole: from LOOKBACK before they are first heard (the output runs
        that much behind, except after IDLE_FRAMES with nothing played) to HANGOVER after.
        Returns that, and AEC3's own output over the same samples."""
        late, both, whole = self._split(suppressed, linear)
        for i in range(0, len(suppressed), FRAME):
            a, b = late[i : i + FRAME], both[i : i + FRAME]
            db = _rms_db(suppressed[i : i + FRAME])
            self._floor = min(db, self._floor + 0.05) if db > -90 else self._floor
            # The microphone far louder than the coach's voice has ever come back: someone
            # talking, even when AEC3 (with next to no echo to learn from) holds it down.
            mic_db, far_db = _rms_db(mic[i : i + FRAME]), _rms_db(far[i : i + FRAME])
            self._idle = 0 if far_db > -50.0 else self._idle + 1
            self._far.append(far_db)
            loud = bare = False
            # Against the loudest of the last 100 ms played: a word's echo rings on in the room
            # after the word, louder than the quiet that follows it. Nothing played in that time,
            # or no coupling known yet: no echo to mistake for the person (inf).
            over = np.inf
            known = len(self._coupling) >= 50
            if known and max(self._far) > -50.0:
                over = mic_db - max(self._far) - float(np.percentile(self._coupling, 90))
            if far_db > -50.0:
                if known:
                    loud, bare = over > 10.0, over > BARE_DB
                if not loud:
                    self._coupling.append(mic_db - far_db)
            kept = db > max(GATE_DB, self._floor + 12.0) and db > mic_db + KEPT_DB
            self._hits = self._hits + 1 if kept else 0
            lin_db = _rms_db(linear[i : i + FRAME])
            above = len(self._residual) >= 50 and lin_db > float(np.percentile(self._residual, 90)) + LIN_CLEAR
            if far_db > -50.0 and not (loud or self._open or self._hits or above):
                self._residual.append(lin_db)
                self._own_residual.append(db)
            clear = above and (lin_db < mic_db - LIN_BELOW or over > LIN_BELOW)
            self._clear = self._clear + 1 if clear else 0
            if self._moving:  # the echo moved: what the cancellers let through is the coach
                self._moving -= 1
                self._hits = self._clear = 0
                self._open = 0 if not loud else self._open
                a = _held(a)
            if loud or self._hits >= HITS or self._clear >= HITS:
                self._open = HANGOVER
                self._loud = HANGOVER if bare else self._loud
                for item in self._line:
                    item[2] = True
                    item[3] = item[3] or bare
            # Far louder than the echo has ever been (next to no echo in the room): AEC3, with
            # nothing to learn from, would hold the person's vowels down too; pass the linear
            # output whole.
            self._line.append([a, b, self._open > 0, self._loud > 0, whole[i : i + FRAME], above])
            self._open = max(0, self._open - 1)
            self._loud = max(0, self._loud - 1)
        out, own = [], []
        behind = 0 if self._idle >= IDLE_FRAMES else LOOKBACK
        while len(self._line) > behind:
            a, b, use, loud_, lin, clear_ = self._line.popleft()
            out.append(lin if loud_ or (use and clear_) else b if use else a)
            own.append(a)
        if not out:
            return np.zeros(0, np.int16), np.zeros(0, np.int16)
        return np.concatenate(out), np.concatenate(own)

    def _split(self, suppressed: np.ndarray, linear: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """AEC3's output delayed by the high-pass filter's group delay (31 samples), that plus
        the linear output above SPLIT_HZ (a linear-phase FIR high-pass), and the linear output
        delayed the same."""
        lin = np.concatenate([self._lin_tail, linear.astype(np.float64)])
        self._lin_tail = lin[len(lin) - (SPLIT_TAPS - 1):]
        high = np.convolve(lin, self._high, mode="valid")
        sup = np.concatenate([self._sup_tail, suppressed.astype(np.float64)])
        self._sup_tail = sup[len(sup) - len(self._sup_tail):]
        low = sup[: len(suppressed)]
        g = (SPLIT_TAPS - 1) // 2
        whole = lin[g : g + len(linear)].astype(np.int16)
        return low.astype(np.int16), np.clip(np.round(low + high), -32768, 32767).astype(np.int16), whole

    def _remember(self, x: np.ndarray, t_end: float) -> bool:
        """Keep the last WINDOW seconds of microphone audio; estimate the delay every
        ESTIMATE_EVERY seconds while the coach is audible in the reference (sooner and on less
        audio until one is found). True when the delay was found or moved."""
        self._mic.append(x)
        self._mic_n += len(x)
        need = int(WINDOW * RATE)
        while self._mic_n - len(self._mic[0]) >= need:
            self._mic_n -= len(self._mic.popleft())
        self._since += len(x)
        self._track_since += len(x)
        if self.delay is not None and self._track_since >= TRACK_EVERY * RATE and self._mic_n >= TRACK_WINDOW * RATE:
            self._track_since = 0
            self._follow(t_end, self.delay)
        first = self.delay is None
        if self._since < (FIRST_EVERY if first else ESTIMATE_EVERY) * RATE:
            return False
        if self._mic_n < (FIRST_WINDOW * RATE if first else need):
            return False
        self._since = 0
        m = min(need, self._mic_n)
        mic = np.concatenate(list(self._mic))[-m:]
        ref = self.reference(t_end - m / RATE, m)
        if _rms_db(ref) < -45.0 or _rms_db(mic) < -60.0:
            return False
        k, clarity = estimate_delay(ref, mic, self.max_lag)
        if clarity < 8.0:
            return False
        self._votes.append(k)
        # Two agreeing estimates (within 2 ms) set or move the delay: one unlucky window (the
        # person talking over the coach, as the room test's first estimate once was) does not.
        agree = [v for v in self._votes if abs(v - k) <= 32]
        if len(agree) >= 2:
            found = float(np.median(agree)) / RATE
            self.estimates.append(found)
            if self.delay is None or abs(found - self.delay) > MOVE:
                self.delay, self._tracked = found, t_end  # small moves are followed, below
                return True
        return False

    def _follow(self, t_end: float, delay: float) -> None:
        """Move the reference with a small step of the delay, at once, the cancellers kept."""
        now = int(round(delay * RATE))
        # At least twice the delay: most of the echo in the window was played within it.
        m = max(int(TRACK_WINDOW * RATE), 2 * now)
        span = min(int((TRACK_SPAN + TRACK_GROWTH * max(0.0, t_end - self._tracked)) * RATE), self.max_lag)
        ref = self.reference(t_end - m / RATE, m)
        mic = np.concatenate(list(self._mic)[-(m // FRAME + 1):])[-m:]
        if len(mic) < m or _rms_db(ref) < -45.0 or _rms_db(mic) < -60.0:
            self._track.clear()
            return
        k, clarity = estimate_delay(ref, mic, self.max_lag, near=(now, span))
        if clarity < 8.0 or abs(k - now) >= span - 1:  # a peak at the edge is the window's, not the room's
            self._track.clear()
            return
        if abs(k - now) <= 2:  # where the reference is read: on track
            self._tracked = t_end
        self._track.append(k)
        off = abs(k - now) >= MOVING_OFF
        if off and len(self._track) >= 2 and abs(self._track[-2] - k) <= 2:  # one alone may be the person
            if not self._moving:
                for item in self._line:  # heard before the move showed in the estimates
                    item[0], item[2] = _held(item[0]), item[3]
            self._moving = MOVING_FRAMES
        if (len(self._track) == TRACK_AGREE and max(self._track) - min(self._track) <= 2
                and abs(k - now) >= 4):
            self.delay, self._tracked = k / RATE, t_end
            self._track.clear()
            self._votes.clear()
            self._moving = MOVING_FRAMES if self._moving or abs(k - now) >= MOVING_OFF else 0
            trace("aec_follow", t_end, delay=self.delay)


def _held(x: np.ndarray) -> np.ndarray:
    """AEC3's output held back while the echo has moved (see MOVING_GAIN)."""
    return (x * MOVING_GAIN).astype(np.int16)


def _highpass(hz: float, taps: int) -> np.ndarray:
    """A linear-phase FIR high-pass (windowed sinc), ``taps`` long (odd), cut-off ``hz``."""
    n = np.arange(taps) - (taps - 1) / 2
    low = np.sinc(2 * hz / RATE * n) * np.hamming(taps)
    low /= low.sum()
    h = -low
    h[(taps - 1) // 2] += 1.0
    return h


def _rms_db(x: np.ndarray) -> float:
    if x.size == 0:
        return -120.0
    r = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return 20.0 * np.log10(r / 32768.0) if r > 0 else -120.0


# --------------------------------------------------------------------------- what was played


class PlayedReference:
    """The reference from what a speaker's stream actually sent out (its ``tap``: monotonic time,
    chunk, first sample, count at its ``rate``) on the session ``clock`` (``time.monotonic``): a
    late output callback makes all after it play later than planned, and the delay a canceller
    follows would keep growing. ``to_16k(chunk)``: 16 kHz samples; ``fallback`` if no tap."""

    def __init__(self, speaker, clock: Callable[[], float], to_16k: Callable, fallback: Reference):
        self.speaker = speaker
        self.clock = clock
        self.to_16k = to_16k
        self.fallback = fallback

    def __call__(self, t0: float, n: int) -> np.ndarray:
        tap = list(self.speaker.tap)
        rate = getattr(self.speaker, "rate", 0)
        if not tap or not rate:
            return self.fallback(t0, n)
        shift = time.monotonic() - self.clock()
        out = np.zeros(n, np.int32)
        t1 = t0 + n / RATE
        for t, chunk, pos, count in reversed(tap):
            start = t - shift
            if start + count / rate <= t0:
                break
            if start >= t1:
                continue
            x = self.to_16k(chunk)
            i = int(round(pos * RATE / rate))
            m = int(round(count * RATE / rate))
            at = int(round((start - t0) * RATE))
            a, b = max(0, at), min(n, at + m)
            if b > a:
                seg = x[i + a - at : i + b - at]
                out[a : a + len(seg)] += seg
        return np.clip(out, -32768, 32767).astype(np.int16)


def array_reference(played: np.ndarray, rate: int = 16000) -> Callable[[float, int], np.ndarray]:
    """A far-end reference from audio already known in full (a file, a benchmark's coach):
    ``reference(t0, n)`` is ``n`` samples from ``t0`` seconds, zeros outside it."""

    def reference(t0: float, n: int) -> np.ndarray:
        i = int(round(t0 * rate))
        out = np.zeros(n, np.int16)
        a, b = max(0, i), min(len(played), i + n)
        if b > a:
            out[a - i : b - i] = played[a:b]
        return out

    return reference

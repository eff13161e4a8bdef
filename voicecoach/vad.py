"""Voice activity detection and endpointing: where an utterance starts and where it ends.

Two layers:

- :class:`VoiceActivity` says, per 30 ms frame of 16 kHz mono audio, whether it is speech: the
  WebRTC detector that pocketsphinx ships (``pocketsphinx.Vad``), gated by an adaptive energy
  floor, so steady fan or room noise that the WebRTC model calls speech does not open an
  utterance (and digital silence never does). Without pocketsphinx the energy gate works alone.
- :class:`Endpointer` turns frames into utterances: it opens one after a few speech frames (with
  a short pre-roll, so the first consonant reaches the recogniser), and closes it after a
  trailing silence that the caller chooses per frame: short for commands, longer for new
  requests, long for a free-form answer, so a person pausing mid-sentence is not cut off.
  An utterance longer than ``max_utterance`` is closed where it is.

Times are seconds on the input clock (sample count / rate): the caller maps them to its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voicecoach.audio import ASR_RATE

FRAME_SECONDS = 0.03
FRAME = int(ASR_RATE * FRAME_SECONDS)
"""Samples per VAD frame (480 at 16 kHz)."""


@dataclass(frozen=True)
class Start:
    """Speech began at ``t`` (the first speech frame); ``audio`` is the pre-roll plus that
    frame, to feed the recogniser first."""

    t: float
    audio: np.ndarray


@dataclass(frozen=True)
class Audio:
    """A frame inside an utterance (speech or a pause within it)."""

    t: float
    """End time of the frame."""
    audio: np.ndarray
    speech: bool


@dataclass(frozen=True)
class End:
    """The utterance ended: the last speech frame ended at ``speech_end``; the endpoint was
    reached at ``t`` (``speech_end`` + the trailing silence, or the max-length cut)."""

    t: float
    speech_end: float
    forced: bool = False
    """True when cut at max_utterance rather than by silence."""


Event = Start | Audio | End


class VoiceActivity:
    """Is this 30 ms frame speech? WebRTC VAD and an adaptive energy gate."""

    def __init__(self, aggressiveness: int = 2, min_db: float = -52.0, above_floor_db: float = 9.0,
                 use_webrtc: bool = True):
        self.min_db = min_db
        """Frames quieter than this are never speech (dBFS)."""
        self.above_floor_db = above_floor_db
        """Speech must be this far above the running noise floor."""
        self.floor_db = -70.0
        """Running estimate of the background level (dBFS)."""
        self._vad = None
        if use_webrtc:
            try:
                from pocketsphinx import Vad

                self._vad = Vad(aggressiveness, ASR_RATE, FRAME_SECONDS)
                if self._vad.frame_bytes != FRAME * 2:
                    self._vad = None
            except (ImportError, ValueError, RuntimeError):
                self._vad = None

    @staticmethod
    def level_db(frame: np.ndarray) -> float:
        if frame.size == 0:
            return -120.0
        r = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
        return 20.0 * np.log10(r / 32768.0) if r > 0 else -120.0

    def is_speech(self, frame: np.ndarray) -> bool:
        db = self.level_db(frame)
        loud = db >= self.min_db and db >= self.floor_db + self.above_floor_db
        # The floor follows quiet frames quickly and loud ones very slowly (a long utterance
        # must not become the "background").
        if db < self.floor_db:
            self.floor_db = 0.7 * self.floor_db + 0.3 * db
        else:
            self.floor_db += min(db - self.floor_db, 0.05 if loud else 0.5)
        self.floor_db = max(self.floor_db, -90.0)
        if not loud:
            return False
        if self._vad is None:
            return True
        try:
            return bool(self._vad.is_speech(np.ascontiguousarray(frame, dtype="<i2").tobytes()))
        except (ValueError, RuntimeError):
            return True


class Endpointer:
    """Frames in, utterance events out. Feed any amount of 16 kHz mono int16 audio with
    :meth:`feed`; the ``trailing`` callable is asked, at every frame of an utterance, how much
    silence ends it now (so it can depend on the recognition mode and on the partial result)."""

    def __init__(self, trailing: Callable[[], float] | float = 0.5, *, max_utterance: float = 15.0,
                 start_frames: int = 2, pre_roll: float = 0.3, activity: VoiceActivity | None = None):
        self.trailing = trailing if callable(trailing) else (lambda v=float(trailing): v)
        self.max_utterance = max_utterance
        self.start_frames = start_frames
        self.activity = activity or VoiceActivity()
        self._pre: deque[np.ndarray] = deque(maxlen=max(1, int(round(pre_roll / FRAME_SECONDS))))
        self._buf = np.zeros(0, dtype=np.int16)
        self._t = 0.0
        """Input clock: end of the last frame processed."""
        self._run = 0
        self.in_speech = False
        self.started = 0.0
        self.last_speech = 0.0

    @property
    def now(self) -> float:
        return self._t

    def reset(self) -> None:
        """Drop any utterance in progress (the caller has acted on it already)."""
        self.in_speech = False
        self._run = 0
        self._pre.clear()

    def feed(self, samples: np.ndarray) -> list[Event]:
        out: list[Event] = []
        buf = np.concatenate([self._buf, samples.astype(np.int16, copy=False)]) if self._buf.size else samples
        n = len(buf) // FRAME
        for i in range(n):
            out.extend(self._frame(np.asarray(buf[i * FRAME : (i + 1) * FRAME], dtype=np.int16)))
        self._buf = np.array(buf[n * FRAME :], dtype=np.int16)
        return out

    def _frame(self, frame: np.ndarray) -> list[Event]:
        t0 = self._t
        self._t = t1 = t0 + FRAME_SECONDS
        speech = self.activity.is_speech(frame)
        if not self.in_speech:
            self._pre.append(frame)
            self._run = self._run + 1 if speech else 0
            if self._run >= self.start_frames:
                self.in_speech = True
                self.started = t1 - self._run * FRAME_SECONDS
                self.last_speech = t1
                audio = np.concatenate(list(self._pre))
                self._pre.clear()
                self._run = 0
                return [Start(self.started, audio)]
            return []
        out: list[Event] = [Audio(t1, frame, speech)]
        if speech:
            self.last_speech = t1
        if t1 - self.started >= self.max_utterance:
            self.in_speech = False
            out.append(End(t1, self.last_speech, forced=True))
        elif t1 - self.last_speech >= self.trailing() - 1e-9:
            self.in_speech = False
            out.append(End(t1, self.last_speech))
        return out

"""The linear echo cancellers: speexdsp's MDF filter (``libspeexdsp``, through ctypes) and a
partitioned-block frequency-domain NLMS filter in NumPy. Used alone when WebRTC's AEC3 cannot be
loaded, and beside it as the linear half of double talk (:mod:`voicecoach.aec`)."""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

from voicecoach.errors import EngineUnavailable

RATE = 16000
FRAME = 160


class SpeexCanceller:
    """speexdsp's MDF echo canceller plus its residual echo suppressor (``libspeexdsp``)."""

    name = "speex"
    _ECHO_SET_SAMPLING_RATE = 24
    _PRE_SET_DENOISE = 0
    _PRE_SET_ECHO_STATE = 24

    def __init__(self, tail: float = 0.128, suppress: bool = True) -> None:
        path = ctypes.util.find_library("speexdsp") or "libspeexdsp.so.1"
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            raise EngineUnavailable("libspeexdsp is not installed (sudo apt install libspeexdsp1)") from None
        lib.speex_echo_state_init.restype = ctypes.c_void_p
        lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.speex_preprocess_state_init.restype = ctypes.c_void_p
        lib.speex_preprocess_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.speex_preprocess_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p] + [ctypes.c_void_p] * 3
        lib.speex_preprocess_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
        lib.speex_preprocess_state_destroy.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self.suppress = suppress
        self._echo = lib.speex_echo_state_init(FRAME, int(tail * RATE))
        rate = ctypes.c_int(RATE)
        lib.speex_echo_ctl(self._echo, self._ECHO_SET_SAMPLING_RATE, ctypes.byref(rate))
        self._pre = lib.speex_preprocess_state_init(FRAME, RATE)
        off = ctypes.c_int(0)
        lib.speex_preprocess_ctl(self._pre, self._PRE_SET_DENOISE, ctypes.byref(off))
        lib.speex_preprocess_ctl(self._pre, self._PRE_SET_ECHO_STATE, ctypes.c_void_p(self._echo))

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        near = np.ascontiguousarray(near, np.int16)
        far = np.ascontiguousarray(far, np.int16)
        out = np.zeros_like(near)
        for i in range(0, len(near) - FRAME + 1, FRAME):
            rec, play, o = near[i : i + FRAME], far[i : i + FRAME], out[i : i + FRAME]
            self._lib.speex_echo_cancellation(self._echo, rec.ctypes.data, play.ctypes.data, o.ctypes.data)
            if self.suppress:
                self._lib.speex_preprocess_run(self._pre, o.ctypes.data)
        return out

    def __del__(self) -> None:
        lib = getattr(self, "_lib", None)
        if lib is not None:
            lib.speex_preprocess_state_destroy(self._pre)
            lib.speex_echo_state_destroy(self._echo)


class NlmsCanceller:
    """Partitioned-block frequency-domain NLMS (overlap-save), with a simple double-talk hold:
    the filter does not adapt while the residual is much louder than the echo estimate (someone
    is talking), so the person's words do not train it away."""

    name = "nlms"

    def __init__(self, partitions: int = 12, mu: float = 0.4) -> None:
        self.p, self.mu = partitions, mu
        self.w = np.zeros((partitions, FRAME + 1), np.complex128)
        self.xf = np.zeros((partitions, FRAME + 1), np.complex128)
        self.last = np.zeros(FRAME)
        self.power = np.full(FRAME + 1, 1e3)
        self._pd = self._pe = 1.0

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        out = np.zeros(len(near), np.int16)
        for i in range(0, len(near) - FRAME + 1, FRAME):
            x = far[i : i + FRAME].astype(np.float64)
            d = near[i : i + FRAME].astype(np.float64)
            self.xf = np.roll(self.xf, 1, axis=0)
            self.xf[0] = np.fft.rfft(np.concatenate([self.last, x]))
            self.last = x
            y = np.fft.irfft((self.w * self.xf).sum(axis=0))[FRAME:]
            e = d - y
            self.power = 0.9 * self.power + 0.1 * (np.abs(self.xf[0]) ** 2)
            pd, pe, py = float(np.mean(d**2)), float(np.mean(e**2)), float(np.mean(y**2))
            self._pd = 0.95 * self._pd + 0.05 * pd
            self._pe = 0.95 * self._pe + 0.05 * pe
            converged = self._pd > 4.0 * self._pe
            if not converged or pe < 4.0 * py + 1e4:
                ef = np.fft.rfft(np.concatenate([np.zeros(FRAME), e]))
                g = self.mu * ef / (self.p * self.power + 1e4)
                upd = np.fft.irfft(np.conj(self.xf) * g, axis=1)
                upd[:, FRAME:] = 0.0  # constrained: keep each partition causal and FRAME long
                self.w += np.fft.rfft(upd, axis=1)
            out[i : i + FRAME] = np.clip(np.round(e), -32768, 32767).astype(np.int16)
        return out


def linear_canceller() -> SpeexCanceller | NlmsCanceller:
    """speexdsp's MDF filter alone (no suppressor), else the NumPy one."""
    try:
        return SpeexCanceller(suppress=False)
    except EngineUnavailable:
        return NlmsCanceller()

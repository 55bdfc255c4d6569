"""Acoustic echo cancellation in the capture path: WebRTC's AEC3 through `pywebrtc-audio` (docs/duplex.md says why).

The far-end reference is what the speaker really played: the output callback hands each block it filled from the
jitter buffer to an `EchoReference` (copy + put_nowait, with the time it reaches the DAC). The capture thread's
`EchoCanceller` resamples that reference to 16 kHz, lays it on a timeline, and for every 10 ms of microphone
signal passes AEC3 the reference played at the same moment (the mic block's ADC time). What remains between the
two, the acoustic path (and any error in the devices' reported latencies), AEC3's own delay estimator finds;
its double-talk handling keeps the user's voice. Nothing here runs on an audio callback but `push`.
"""

from __future__ import annotations

import collections
import logging
import queue
import time
from dataclasses import dataclass

import numpy as np

from core.audio.devices import Resampler
from core.options import check, opt
from models.rates import SPEECH_RATE_HZ

log = logging.getLogger(__name__)

AEC_RATE_HZ = SPEECH_RATE_HZ  # the canceller runs where the VAD does: 16 kHz mono
AEC_FRAME = AEC_RATE_HZ // 100  # AEC3 works in 10 ms frames
FAR_HISTORY_S = 2.0  # reference kept for alignment (far more than any device latency)
REALIGN_WINDOW = 25  # chunks (0.5 s of 20 ms blocks) that must all be off before a stream's anchor moves
# the reference's resampler: LQ releases a 20 ms block's worth steadily (HQ holds ~30 ms back in bursts, and the
# mic frames would wait for it); its band edge is far above where speech echo has energy at 16 kHz
FAR_QUALITY = "LQ"
FAR_WAIT_S = 0.1  # a mic frame waits at most this long for its reference (resampler delay; a late output callback)


@dataclass(frozen=True)
class EchoConfig:
    """Echo cancellation (the "speakers" duplex mode). WebRTC AEC3 with optional noise suppression."""

    noise_suppression: bool = opt(False, "also suppress steady background noise (WebRTC NS) in the cleaned signal")
    ns_level: int = opt(1, "noise suppression strength 0-3 (6, 12, 18, 21 dB)", choices=(0, 1, 2, 3))
    delay_hint_ms: int = opt(0, "extra echo path delay hint for AEC3 in ms (it estimates the delay itself)")
    realign_ms: float = opt(40.0, "re-align the reference when the devices' clocks drift apart this much")
    reference_blocks: int = opt(500, "bounded queue of played blocks (10 s at 20 ms); overflow drops, counted")

    def __post_init__(self) -> None:
        check(self.ns_level in (0, 1, 2, 3), f"ns_level must be 0-3, got {self.ns_level}")
        check(0 <= self.delay_hint_ms <= 500, f"delay_hint_ms must be in [0, 500], got {self.delay_hint_ms}")
        check(5.0 <= self.realign_ms <= 500.0, f"realign_ms must be in [5, 500], got {self.realign_ms}")
        check(self.reference_blocks >= 8, f"reference_blocks must be >= 8, got {self.reference_blocks}")


def echo_unavailable() -> str | None:
    """Why the echo canceller cannot run here (None: it can)."""
    try:
        import pywebrtc_audio  # noqa: F401
    except ImportError as err:  # a platform without its wheel
        return f"pywebrtc-audio is not installed ({err}); `pip install pywebrtc-audio`"
    return None


class EchoReference:
    """The output callback's side: every played block, with the DAC time of its first sample. `push` copies and
    never blocks (a full queue drops the block and counts it)."""

    def __init__(self, rate_hz: int, max_blocks: int) -> None:
        self.rate_hz = rate_hz
        self.queue: queue.Queue[tuple[float, np.ndarray]] = queue.Queue(maxsize=max_blocks)
        self.dropped_blocks = 0

    def push(self, dac_t: float, block: np.ndarray) -> None:
        """block: [N] float32 at `rate_hz`, exactly what the device was handed."""
        try:
            self.queue.put_nowait((dac_t, block.copy()))
        except queue.Full:
            self.dropped_blocks += 1


class _Clock:
    """Sample index <-> monotonic time for one stream: the sample count is the clock, anchored at the first chunk's
    time. Callback times only say when a chunk was handed over, late by scheduling jitter (tens of ms under load),
    so one late callback must not move the anchor: a jump of the reference by even a sample invalidates AEC3's
    filter. The anchor moves only when every chunk of the last REALIGN_WINDOW has been off by more than
    `realign_s` (a gap: dropped blocks, a stalled device; or the two devices' clocks drifting apart), and then by
    the smallest of those offsets (jitter only ever adds lateness)."""

    def __init__(self, rate_hz: int, realign_s: float) -> None:
        self._rate, self._realign_s = rate_hz, realign_s
        self.t0: float | None = None
        self.count = 0  # samples so far
        self.realigned = 0
        self._offsets: collections.deque[float] = collections.deque(maxlen=REALIGN_WINDOW)

    def add(self, t: float, n: int) -> None:
        """A chunk of `n` samples whose first sample is at time `t`."""
        anchor = t - self.count / self._rate
        self.count += n
        if self.t0 is None:
            self.t0 = anchor
            return
        self._offsets.append(anchor - self.t0)
        if len(self._offsets) < REALIGN_WINDOW:
            return
        late, early = min(self._offsets), max(self._offsets)
        shift = late if late > self._realign_s else early if early < -self._realign_s else 0.0
        if shift:
            log.debug("echo reference re-aligned by %.1f ms", 1000 * shift)
            self.t0 += shift
            self.realigned += 1
            self._offsets.clear()

    def time_of(self, index: int) -> float:
        return (self.t0 or 0.0) + index / self._rate


class EchoCanceller:
    """The capture thread's side. `process(near, t)` -> the cleaned signal (same rate, same stream; it lags the
    input by less than one 10 ms frame). Not thread-safe: one capture thread owns it."""

    def __init__(self, config: EchoConfig, reference: EchoReference) -> None:
        from pywebrtc_audio import AudioProcessor

        self._cfg, self._ref = config, reference
        self._ap = AudioProcessor(
            AEC_RATE_HZ, echo_cancellation=True, noise_suppression=config.noise_suppression,
            ns_level=config.ns_level, stream_delay_ms=config.delay_hint_ms,
        )
        self._far_rs = Resampler(reference.rate_hz, AEC_RATE_HZ, FAR_QUALITY)
        realign_s = config.realign_ms / 1000
        self._far_clock = _Clock(AEC_RATE_HZ, realign_s)
        self._near_clock = _Clock(AEC_RATE_HZ, realign_s)
        self._far = np.zeros(int(FAR_HISTORY_S * AEC_RATE_HZ), np.float32)  # ring: far index i at i % size
        self._near_buf = np.zeros(0, np.float32)
        self._near_next = 0  # near index of _near_buf[0]
        self.frames = 0
        self.compute_s = 0.0
        self.reference_late = 0  # times frames went on without their reference (it lagged over FAR_WAIT_S)

    @property
    def realigned(self) -> int:
        return self._far_clock.realigned + self._near_clock.realigned

    def process(self, near: np.ndarray, adc_t: float) -> np.ndarray:
        """near: [N] float32 at 16 kHz whose first sample reached the ADC at `adc_t` -> [M] cleaned float32.
        A frame whose reference has not arrived yet waits for it, at most FAR_WAIT_S (then zeros stand in)."""
        self._drain_reference()
        self._near_clock.add(adc_t, near.size)
        buf = np.concatenate([self._near_buf, near]) if self._near_buf.size else near.astype(np.float32)
        ready = buf.size // AEC_FRAME
        waiting = 0  # the newest frames whose reference has not arrived
        far_known = self._far_clock.count
        while waiting < ready and self._far_end(self._near_next + (ready - waiting) * AEC_FRAME) > far_known:
            waiting += 1
        if waiting * AEC_FRAME < FAR_WAIT_S * AEC_RATE_HZ:
            ready -= waiting
        else:
            self.reference_late += 1
        n = ready * AEC_FRAME
        out = np.empty(n, np.float32)
        t0 = time.perf_counter()
        for k in range(0, n, AEC_FRAME):
            far = self._far_at(self._near_clock.time_of(self._near_next + k))
            out[k : k + AEC_FRAME] = self._ap.process(np.ascontiguousarray(buf[k : k + AEC_FRAME]), far)
        self.compute_s += time.perf_counter() - t0
        self.frames += ready
        self._near_buf = buf[n:].copy()
        self._near_next += n
        return out

    def _far_end(self, near_end: int) -> int:
        """The far index one past the reference of near samples up to `near_end` (exclusive)."""
        clock = self._far_clock
        if clock.t0 is None:
            return 1 << 62
        return int(round((self._near_clock.time_of(near_end) - clock.t0) * AEC_RATE_HZ))

    def _drain_reference(self) -> None:
        while True:
            try:
                dac_t, block = self._ref.queue.get_nowait()
            except queue.Empty:
                return
            far = self._far_rs.process(block)  # [M] at 16 kHz
            self._far_clock.add(dac_t, far.size)
            start = self._far_clock.count - far.size
            size = self._far.size
            idx = (start + np.arange(far.size)) % size
            self._far[idx] = far  # a block is 20 ms, the ring 2 s

    def _far_at(self, t: float) -> np.ndarray:
        """[AEC_FRAME] of the reference played at time t (zeros where none is known)."""
        clock = self._far_clock
        if clock.t0 is None:
            return np.zeros(AEC_FRAME, np.float32)
        start = int(round((t - clock.t0) * AEC_RATE_HZ))
        idx = np.arange(start, start + AEC_FRAME)
        known = (idx >= 0) & (idx < clock.count) & (idx >= clock.count - self._far.size)
        out = np.zeros(AEC_FRAME, np.float32)
        out[known] = self._far[idx[known] % self._far.size]
        return out

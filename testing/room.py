"""A simulated laptop room for duplex tests and benchmarks: what the microphone hears of what the loudspeaker
plays. Streaming: speaker samples in (at the speaker's rate) -> loudspeaker nonlinearity -> resampled to the
microphone's rate -> convolved with a synthetic room impulse response -> delayed -> scaled; plus background noise.

Levels. Everything is relative to the user's speech level at the microphone, `speech_rms` (active RMS, see
`active_rms`): user clips are scaled to it, the echo's gain is set so that a reply played at the app's normal
output level (active RMS `REPLY_RMS`, which is what `testing.speech_voice` plays: peaks near 0.5 for synthetic
speech) arrives at the microphone `echo_gain_db` above (or below) it, and the noise sits `noise_db` below it.
The gain is computed, not measured: echo energy = gain^2 * ||rir||^2 * nonlinearity loss^2 * reply energy, which
holds for any signal whose spectrum the noise-like RIR tail does not single out (speech does not); the
nonlinearity's RMS loss is measured once on a Laplacian signal (speech's amplitude distribution) at REPLY_RMS.

The RIR. A unit direct path at lag 0 (the delay is applied separately) and, from TAIL_START_MS on, seeded
Gaussian noise under an exp decay that falls 60 dB in `rt60_s`, cut where it has. Its energy relative to the
direct path is set by `drr_db`: direct / reverberant energy. Default +8 dB: a laptop's speaker sits a few cm from
its microphones, far inside the room's critical distance (~0.5-1 m in an office), which alone would give +15 dB
or more; but the speakers fire down or sideways from the base while the microphones sit in the lid bezel, so the
direct sound is shadowed by the chassis and much of what arrives early is already reflected (desk, screen).
+8 dB is a middle between those; `draw_room` spans 4-12 dB.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np
import soxr

from core.options import check, opt

log = logging.getLogger(__name__)

REPLY_RMS = 0.085  # the app's normal reply level: active RMS of a reply as played (synthetic speech peaks ~0.5)
TAIL_START_MS = 2.5  # the first reflection (desk, screen) after the direct path
NOISE_LOOP_S = 8.0  # the background noise is a seeded pink loop of this length
ACTIVE_FRAME_MS = 20.0
ACTIVE_RANGE_DB = 40.0  # active_rms: frames within this of the loudest frame count as speech
RESAMPLE_QUALITY = "LQ"  # soxr LQ holds back ~0.5 ms at 44.1 -> 48 kHz (HQ: 21 ms, more than the shortest delay)
HISTORY_S = 30.0  # echo kept for late readers


@dataclass(frozen=True)
class RoomConfig:
    """One room: the echo path from the laptop's speaker to its microphone, and the background noise."""

    delay_ms: float = opt(60.0, "echo path delay: speaker stream time -> microphone stream time")
    rt60_s: float = opt(0.35, "reverberation time (60 dB decay) of the RIR's tail")
    echo_gain_db: float = opt(0.0, "echo level at the mic re the user's speech level, for a reply at REPLY_RMS")
    drr_db: float = opt(8.0, "direct-to-reverberant energy ratio of the RIR (laptop: speaker cm from the mic)")
    drive: float = opt(1.0, "loudspeaker nonlinearity y = tanh(drive*x)/drive at full scale (0: linear, 1: mild)")
    noise_db: float | None = opt(-40.0, "background noise re the speech level (None: no noise)")
    speech_rms: float = opt(0.05, "the user's speech level at the mic (active RMS; 0.05 ~ -26 dBFS)")
    seed: int = opt(0, "seeds the RIR's tail and the noise")

    def __post_init__(self) -> None:
        check(20.0 <= self.delay_ms <= 250.0, f"delay_ms must be in [20, 250], got {self.delay_ms}")
        check(0.2 <= self.rt60_s <= 0.6, f"rt60_s must be in [0.2, 0.6], got {self.rt60_s}")
        check(-6.0 <= self.echo_gain_db <= 6.0, f"echo_gain_db must be in [-6, 6], got {self.echo_gain_db}")
        check(-5.0 <= self.drr_db <= 30.0, f"drr_db must be in [-5, 30], got {self.drr_db}")
        check(0.0 <= self.drive <= 5.0, f"drive must be in [0, 5], got {self.drive}")
        check(self.noise_db is None or -100.0 <= self.noise_db <= 0.0, f"noise_db must be in [-100, 0] or None, "
              f"got {self.noise_db}")
        check(0.001 <= self.speech_rms <= 0.5, f"speech_rms must be in [0.001, 0.5], got {self.speech_rms}")
        check(self.seed >= 0, f"seed must be >= 0, got {self.seed}")


def draw_room(rng: np.random.Generator, split: str = "train") -> RoomConfig:
    """A random room over the issue's ranges (uniform: delay 20-250 ms, RT60 0.2-0.6 s, echo -6..+6 dB re speech,
    DRR 4-12 dB, drive 0.3-1 (a mild speaker: THD 0.3-2.8 % at a 0.6 peak), noise -50..-35 dB). The split only
    picks the RIR/noise seeds: even for "train", odd for "heldout", so the two never share a room's tail or
    noise."""
    check(split in ("train", "heldout"), f"split must be train or heldout, got {split!r}")
    return RoomConfig(
        delay_ms=float(rng.uniform(20.0, 250.0)),
        rt60_s=float(rng.uniform(0.2, 0.6)),
        echo_gain_db=float(rng.uniform(-6.0, 6.0)),
        drr_db=float(rng.uniform(4.0, 12.0)),
        drive=float(rng.uniform(0.3, 1.0)),
        noise_db=float(rng.uniform(-50.0, -35.0)),
        seed=int(rng.integers(0, 2**30)) * 2 + (split == "heldout"),
    )


def make_rir(rt60_s: float, drr_db: float, rate_hz: int, seed: int = 0) -> np.ndarray:
    """[L] float64: 1.0 at lag 0, then an exponentially decaying Gaussian tail (60 dB in rt60_s, L = rt60_s *
    rate) scaled so that direct / tail energy = drr_db."""
    n = max(int(round(rt60_s * rate_hz)), 2)
    t = np.arange(n) / rate_hz
    rng = np.random.default_rng(seed)
    tail = rng.standard_normal(n) * np.exp(-3.0 * np.log(10.0) * t / rt60_s)  # 10^(-3 t / rt60): -60 dB at rt60
    tail[: max(int(round(TAIL_START_MS / 1000 * rate_hz)), 1)] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / float(np.sum(tail**2)))
    tail[0] = 1.0
    return tail


def rir_drr_db(h: np.ndarray) -> float:
    """Direct (lag 0) over reverberant (the rest) energy, in dB."""
    return float(10 * np.log10(h[0] ** 2 / np.sum(h[1:] ** 2)))


def rir_rt60_s(h: np.ndarray, rate_hz: int, lo_db: float = -5.0, hi_db: float = -25.0) -> float:
    """RT60 from the tail's Schroeder decay curve: a line fitted between lo_db and hi_db, extrapolated to -60."""
    edc = np.cumsum((h[1:] ** 2)[::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    sel = (edc_db <= lo_db) & (edc_db >= hi_db)
    slope = np.polyfit(np.flatnonzero(sel) / rate_hz, edc_db[sel], 1)[0]  # dB/s
    return float(-60.0 / slope)


def loudspeaker(x: np.ndarray, drive: float) -> np.ndarray:
    """The speaker's mild saturation, tanh(drive*x)/drive (identity for drive 0)."""
    return x if drive == 0 else np.tanh(drive * x) / drive


def active_rms(x: np.ndarray, rate_hz: int) -> float:
    """RMS over the 20 ms frames within ACTIVE_RANGE_DB of the loudest one (speech level without its pauses)."""
    frame = max(int(rate_hz * ACTIVE_FRAME_MS / 1000), 1)
    n = x.size // frame
    if n == 0:
        return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    energy = np.mean(np.square(x[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    keep = energy >= energy.max() * 10 ** (-ACTIVE_RANGE_DB / 10)
    return float(np.sqrt(energy[keep].mean()))


def scaled_to(x: np.ndarray, rms: float, rate_hz: int) -> np.ndarray:
    """x scaled so that its active RMS is `rms`."""
    return (x * (rms / max(active_rms(x, rate_hz), 1e-12))).astype(np.float32)


def _nonlinearity_loss(drive: float) -> float:
    """RMS out / RMS in of the loudspeaker for a Laplacian signal at REPLY_RMS (deterministic)."""
    x = np.random.default_rng(1).laplace(scale=REPLY_RMS / np.sqrt(2), size=1 << 16)
    return float(np.sqrt(np.mean(loudspeaker(x, drive) ** 2) / np.mean(x**2)))


def _pink_loop(n: int, rms: float, seed: int) -> np.ndarray:
    """[n] float32 pink noise (1/f power above 50 Hz at 48 kHz-ish bins) with exactly `rms`; loops seamlessly."""
    spec = np.fft.rfft(np.random.default_rng(seed + 7919).standard_normal(n))
    k = np.arange(spec.size, dtype=np.float64)
    spec /= np.sqrt(np.maximum(k, max(n * 50 // 48000, 1)))
    spec[0] = 0.0
    y = np.fft.irfft(spec, n)
    return (y * (rms / np.sqrt(np.mean(y**2)))).astype(np.float32)


class Room:
    """The streaming echo path. `push(speaker block)` on the speaker's side, `echo(start, n)` on the microphone's:
    the echo at microphone-rate sample indices [start, start+n) of the SPEAKER's stream time (index 0 = the
    speaker's first sample), delay and gain applied. Indices before 0 are silence; indices not produced yet are
    zeros, returned as `missing`. Thread-safe between one pusher and one reader."""

    def __init__(self, config: RoomConfig, in_rate_hz: int, out_rate_hz: int, history_s: float = HISTORY_S) -> None:
        self.config, self.in_rate_hz, self.out_rate_hz = config, in_rate_hz, out_rate_hz
        self.rir = make_rir(config.rt60_s, config.drr_db, out_rate_hz, config.seed)  # [L] at the mic rate
        self.delay_samples = int(round(config.delay_ms / 1000 * out_rate_hz))
        target = config.speech_rms * 10 ** (config.echo_gain_db / 20)
        self.gain = target / (REPLY_RMS * _nonlinearity_loss(config.drive) * float(np.sqrt(np.sum(self.rir**2))))
        self._h_scaled = self.rir * self.gain
        self._spectra: dict[int, np.ndarray] = {}  # FFT size -> rfft of the scaled RIR
        noise_rms = 0.0 if config.noise_db is None else config.speech_rms * 10 ** (config.noise_db / 20)
        self._noise = _pink_loop(int(NOISE_LOOP_S * out_rate_hz), noise_rms, config.seed) if noise_rms else None
        self._noise_pos = 0
        self._ring = np.zeros(int(history_s * out_rate_hz), np.float32)  # echo timeline index j at j % size
        self._cond = threading.Condition()
        self.reset()

    def reset(self) -> None:
        """A new speaker stream: forget what was played (its index 0 starts again)."""
        with self._cond:
            self._rs = (None if self.in_rate_hz == self.out_rate_hz else soxr.ResampleStream(
                self.in_rate_hz, self.out_rate_hz, 1, dtype="float32", quality=RESAMPLE_QUALITY))
            self._carry = np.zeros(self.rir.size - 1)  # the convolution's tail into the future
            self.produced = 0  # echo timeline samples known (undelayed index)
            self._ring[:] = 0.0

    # -- the speaker's side ----------------------------------------------------------------------------------
    def push(self, block: np.ndarray) -> None:
        """block: [N] float32 the speaker played, at in_rate_hz, continuing the previous one."""
        x = loudspeaker(np.asarray(block, np.float32), self.config.drive).astype(np.float32)
        x = x if self._rs is None else self._rs.resample_chunk(x)  # [M] at the mic rate
        if x.size == 0:
            return
        y = self._convolve(x)
        with self._cond:
            idx = (self.produced + np.arange(y.size)) % self._ring.size
            self._ring[idx] = y
            self.produced += y.size
            self._cond.notify_all()

    def _convolve(self, x: np.ndarray) -> np.ndarray:
        """Overlap-add of one block: [M] -> [M] final samples; the rest carried."""
        m, taps = x.size, self.rir.size
        nfft = 1 << int(np.ceil(np.log2(m + taps - 1)))
        if nfft not in self._spectra:
            self._spectra[nfft] = np.fft.rfft(self._h_scaled, nfft)
        y = np.fft.irfft(np.fft.rfft(x, nfft) * self._spectra[nfft], nfft)[: m + taps - 1]
        y[: taps - 1] += self._carry
        self._carry = y[m:].copy()
        return y[:m].astype(np.float32)

    # -- the microphone's side -------------------------------------------------------------------------------
    def echo(self, start: int, n: int, wait_s: float = 0.0) -> tuple[np.ndarray, int]:
        """The echo at speaker-stream-time indices [start, start+n) (mic rate) -> ([n] float32, samples missing).
        wait_s: wait up to this long for the speaker side to produce them."""
        j = np.arange(start, start + n) - self.delay_samples  # the undelayed index each sample hears
        with self._cond:
            if wait_s > 0 and j[-1] >= self.produced:
                self._cond.wait_for(lambda: j[-1] < self.produced, wait_s)
            known = (j >= 0) & (j < self.produced) & (j >= self.produced - self._ring.size)
            out = np.zeros(n, np.float32)
            out[known] = self._ring[j[known] % self._ring.size]
            missing = int(np.count_nonzero(j >= self.produced))
        return out, missing

    def noise(self, n: int) -> np.ndarray:
        """[n] float32 of the background noise (continuing), zeros without noise."""
        if self._noise is None:
            return np.zeros(n, np.float32)
        idx = (self._noise_pos + np.arange(n)) % self._noise.size
        self._noise_pos = (self._noise_pos + n) % self._noise.size
        return self._noise[idx]

    # -- offline -----------------------------------------------------------------------------------------------
    def render(self, speaker: np.ndarray) -> np.ndarray:
        """The echo of a whole speaker signal ([N] at in_rate_hz), computed offline (the streaming state is not
        touched) -> [M] float32 at the mic rate: delay + resampled input + the RIR's tail (noise not included)."""
        x = loudspeaker(np.asarray(speaker, np.float32), self.config.drive).astype(np.float32)
        if self.in_rate_hz != self.out_rate_hz:
            x = soxr.resample(x, self.in_rate_hz, self.out_rate_hz, quality=RESAMPLE_QUALITY)
        nfft = 1 << int(np.ceil(np.log2(x.size + self.rir.size - 1)))
        y = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(self._h_scaled, nfft), nfft)[: x.size + self.rir.size - 1]
        return np.concatenate([np.zeros(self.delay_samples), y]).astype(np.float32)

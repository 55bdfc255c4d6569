"""The echo canceller on its own (no devices, no real time): a reference laid on its timeline by the times the
speaker reports, an echo some tens of ms later through a decaying room response, and the user's voice on top."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio.duplex import DuplexMode, looks_like_headphones, resolve_duplex
from core.audio.echo import AEC_RATE_HZ, FAR_WAIT_S, EchoCanceller, EchoConfig, EchoReference
from testing.espeak import espeak

OUT_RATE_HZ = 48000
BLOCK_S = 0.02


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    """(reply, user): espeak-ng speech at 48 kHz, the reply 6 s at 0.1 RMS, the user 1.5 s at 0.05 RMS."""
    import soxr

    d = tmp_path_factory.mktemp("echo")
    reply, rate = espeak("This is the reply that plays on the laptop speaker. I hear you, and I think it will be "
                         "alright; let us talk about what happened today.", d, "reply")
    user, _ = espeak("Wait, I want to ask something else.", d, "user")
    reply, user = (soxr.resample(x, rate, OUT_RATE_HZ).astype(np.float32) for x in (reply, user))
    reply = np.pad(reply, (0, max(0, 6 * OUT_RATE_HZ - reply.size)))[: 6 * OUT_RATE_HZ]
    return reply / np.std(reply) * 0.1, (user / np.std(user) * 0.05)[: int(1.5 * OUT_RATE_HZ)]


def _room(x16: np.ndarray, delay_ms: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.2 * AEC_RATE_HZ)) / AEC_RATE_HZ
    tail = rng.standard_normal(t.size) * np.exp(-6.9 * t / 0.2) * 0.05
    tail[0] = 1.0
    d = int(delay_ms * AEC_RATE_HZ / 1000)
    y = np.convolve(x16, tail)[: x16.size]
    return np.concatenate([np.zeros(d), y])[: x16.size].astype(np.float32)


def _run(near16: np.ndarray, far48: np.ndarray, config: EchoConfig | None = None, t0: float = 100.0) -> np.ndarray:
    """Feed the canceller as the engine does: the speaker's 20 ms blocks (DAC times), then the mic's."""
    ref = EchoReference(OUT_RATE_HZ, 1000)
    aec = EchoCanceller(config or EchoConfig(), ref)
    out = []
    out_block, in_block = int(BLOCK_S * OUT_RATE_HZ), int(BLOCK_S * AEC_RATE_HZ)
    for k in range(near16.size // in_block):
        t = t0 + k * BLOCK_S
        ref.push(t, far48[k * out_block : (k + 1) * out_block])
        out.append(aec.process(near16[k * in_block : (k + 1) * in_block], t))
    return np.concatenate(out)


def _to16(x48: np.ndarray) -> np.ndarray:
    import soxr

    return soxr.resample(x48, OUT_RATE_HZ, AEC_RATE_HZ).astype(np.float32)


@pytest.mark.parametrize("delay_ms", [20.0, 250.0])
def test_echo_is_removed_after_convergence(delay_ms, voices):
    far = voices[0]
    echo = _room(_to16(far), delay_ms, seed=2)
    out = _run(echo, far)
    s = AEC_RATE_HZ  # after 1 s of convergence
    erle_db = 10 * np.log10(np.mean(echo[s : out.size] ** 2) / np.mean(out[s:] ** 2))
    print(f"delay {delay_ms:.0f} ms: ERLE {erle_db:.1f} dB")
    assert erle_db > 25.0


def _best_correlation(got: np.ndarray, want: np.ndarray, max_lag: int = 200) -> float:
    """Max normalized cross-correlation of `got` against `want` over lags up to `max_lag` samples (AEC3's
    output lags its input by 128 samples)."""
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        a = got[max_lag + lag : max_lag + lag + want.size - 2 * max_lag]
        b = want[max_lag : want.size - max_lag]
        best = max(best, float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b) + 1e-12)))
    return best


def test_user_voice_survives_double_talk(voices):
    far = voices[0]
    echo = _room(_to16(far), 80.0, seed=4)
    user = np.zeros_like(echo)
    voice = _to16(voices[1])
    user[4 * AEC_RATE_HZ : 4 * AEC_RATE_HZ + voice.size] = voice
    out = _run(echo + user, far)
    span = slice(int(4.1 * AEC_RATE_HZ), int(5.4 * AEC_RATE_HZ))  # the user over the reply, after its onset
    corr = _best_correlation(out[span], user[span])
    level_db = 10 * np.log10(np.mean(out[span] ** 2) / np.mean(user[span] ** 2))
    print(f"double talk: correlation {corr:.3f}, level {level_db:+.1f} dB")
    assert corr > 0.6 and level_db > -6.0


def test_no_reference_passes_the_signal_through():
    rng = np.random.default_rng(5)
    near = (0.05 * rng.standard_normal(AEC_RATE_HZ * 2)).astype(np.float32)
    out = _run(near, np.zeros(OUT_RATE_HZ * 2, np.float32))
    assert out.size >= near.size - FAR_WAIT_S * AEC_RATE_HZ  # the newest frames wait for their reference
    ratio_db = 10 * np.log10(np.mean(out[AEC_RATE_HZ:] ** 2) / np.mean(near[AEC_RATE_HZ : out.size] ** 2))
    assert abs(ratio_db) < 3.0  # only the high-pass filter acts


def test_a_full_reference_queue_drops_and_counts():
    ref = EchoReference(OUT_RATE_HZ, 8)
    for k in range(10):
        ref.push(float(k), np.zeros(960, np.float32))
    assert ref.dropped_blocks == 2


@pytest.mark.parametrize(("requested", "name", "error", "want"), [
    ("auto", "Built-in Audio Analog Stereo", None, DuplexMode.SPEAKERS),
    ("auto", "External Headphones", None, DuplexMode.HEADPHONES),
    ("auto", "Jabra Evolve2 Headset", None, DuplexMode.HEADPHONES),
    ("auto", "MacBook Pro Speakers", "no wheel", DuplexMode.HALF),
    ("speakers", "External Headphones", None, DuplexMode.SPEAKERS),
    ("headphones", "MacBook Pro Speakers", "no wheel", DuplexMode.HEADPHONES),
    ("half", "anything", None, DuplexMode.HALF),
])
def test_duplex_resolves_from_setting_device_and_canceller(requested, name, error, want):
    mode, why = resolve_duplex(requested, name, error)
    assert mode is want and why


def test_headphone_names():
    assert looks_like_headphones("Headphones (Realtek(R) Audio)") and looks_like_headphones("AirPods Pro")
    assert not looks_like_headphones("Speakers (Realtek(R) Audio)") and not looks_like_headphones("pulse")


def test_bad_echo_config_is_one_clear_line():
    with pytest.raises(ValueError, match="ns_level"):
        EchoConfig(ns_level=7)


def test_the_reference_clock_ignores_late_callbacks_and_follows_a_real_shift():
    from core.audio.echo import REALIGN_WINDOW, _Clock

    clock = _Clock(16000, realign_s=0.04)
    for k in range(100):  # 20 ms chunks; every 7th callback 60 ms late (scheduling jitter)
        clock.add(10.0 + 0.02 * k + (0.06 if k % 7 == 3 else 0.0), 320)
    assert clock.t0 == 10.0 and clock.realigned == 0
    for k in range(100, 100 + REALIGN_WINDOW):  # then a gap: 100 ms of blocks dropped, every later one 0.1 s on
        clock.add(10.1 + 0.02 * k, 320)
    assert clock.realigned == 1 and abs(clock.t0 - 10.1) < 1e-9

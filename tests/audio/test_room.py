"""The simulated laptop room (testing.room) behind the fake sound card and on the PulseAudio path: its impulse
response, the echo's level and delay, sample alignment through real paced streams, the speaking stand-in voice."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf
import soxr

from core.engine.config import AudioConfig, EngineConfig
from core.engine.engine import Engine
from core.engine.events import ReplyEnded
from core.turns.config import VadConfig
from testing.collector import EventCollector
from testing.fake_audio import FAKE_INPUT_RATE_HZ as MIC_HZ
from testing.fake_audio import FAKE_OUTPUT_RATE_HZ as SPK_HZ
from testing.fake_audio import FakeAudio
from testing.room import (
    ACTIVE_FRAME_MS,
    REPLY_RMS,
    Room,
    RoomConfig,
    active_rms,
    draw_room,
    make_rir,
    rir_drr_db,
    rir_rt60_s,
)
from testing.speech_voice import BACKCHANNEL_MAX_S, BACKCHANNELS, SpeechVoice, backchannel, user_sentence
from tests.engine_fakes import FakeConversation

SPEED = 4.0


def lag_samples(y: np.ndarray, x: np.ndarray) -> int:
    """The lag of y behind x at the cross-correlation's peak."""
    n = 1 << int(np.ceil(np.log2(x.size + y.size)))
    c = np.fft.irfft(np.fft.rfft(y, n) * np.conj(np.fft.rfft(x, n)), n)
    k = int(np.argmax(c))
    return k if k < n // 2 else k - n


def level_db_over(echo: np.ndarray, dry: np.ndarray, rate_hz: int, speech_rms: float) -> float:
    """The echo's RMS over the frames where the (aligned) dry reply is active, in dB re speech_rms."""
    frame = int(rate_hz * ACTIVE_FRAME_MS / 1000)
    n = min(echo.size, dry.size) // frame
    e_dry = np.mean(dry[: n * frame].reshape(n, frame) ** 2, axis=1)
    active = e_dry >= e_dry.max() * 1e-4
    e_echo = np.mean(echo[: n * frame].reshape(n, frame) ** 2, axis=1)
    return float(10 * np.log10(e_echo[active].mean() / speech_rms**2))


@pytest.mark.parametrize("rt60_s, drr_db", [(0.2, 8.0), (0.4, 4.0), (0.6, 12.0)])
def test_rir_has_the_requested_rt60_and_drr(rt60_s, drr_db):
    for rate in (16000, 48000):
        h = make_rir(rt60_s, drr_db, rate, seed=3)
        assert rir_rt60_s(h, rate) == pytest.approx(rt60_s, rel=0.08)
        assert rir_drr_db(h) == pytest.approx(drr_db, abs=0.01)
        assert np.argmax(np.abs(h)) == 0  # the direct path leads: the delay is all in delay_ms


def test_room_config_is_validated_and_draws_stay_in_range():
    with pytest.raises(ValueError, match="delay_ms"):
        RoomConfig(delay_ms=10)
    with pytest.raises(ValueError, match="rt60_s"):
        RoomConfig(rt60_s=1.0)
    rng = np.random.default_rng(0)
    train = [draw_room(rng, "train") for _ in range(50)]
    held = [draw_room(rng, "heldout") for _ in range(50)]
    assert {r.seed % 2 for r in train} == {0} and {r.seed % 2 for r in held} == {1}


@pytest.mark.parametrize("gain_db, drive", [(-6.0, 1.0), (0.0, 0.0), (6.0, 2.0)])
def test_echo_level_relative_to_speech_matches_echo_gain_db(gain_db, drive):
    """Over a few replies (the calibration is for speech in general: one steady-pitched clip alone can land up to
    ~1.5 dB off, its few strong harmonics sampling the RIR's spectral ripple)."""
    gap = np.zeros(SPK_HZ // 3, np.float32)
    played = np.concatenate([np.concatenate([soxr.resample(c, 22050, SPK_HZ), gap])
                             for c in SpeechVoice(n_replies=4, seed=7).clips]).astype(np.float32)
    cfg = RoomConfig(delay_ms=50, rt60_s=0.4, echo_gain_db=gain_db, drive=drive, noise_db=-40.0, seed=5)
    room = Room(cfg, SPK_HZ, MIC_HZ)
    echo = room.render(played)
    dry = np.concatenate([np.zeros(room.delay_samples), soxr.resample(played, SPK_HZ, MIC_HZ)])
    assert active_rms(played, SPK_HZ) == pytest.approx(REPLY_RMS, rel=0.05)
    assert level_db_over(echo, dry, MIC_HZ, cfg.speech_rms) == pytest.approx(gain_db, abs=1.0)
    noise = room.noise(MIC_HZ * 4)
    assert 20 * np.log10(np.sqrt(np.mean(noise**2)) / cfg.speech_rms) == pytest.approx(-40.0, abs=0.1)


def test_user_speech_and_backchannels_are_at_the_speech_level():
    x = user_sentence("heldout", seed=2, speech_rms=0.05)
    assert active_rms(x, MIC_HZ) == pytest.approx(0.05, rel=0.01) and x.size > MIC_HZ // 2
    for word in BACKCHANNELS:
        b = backchannel(word, "train", seed=1, speech_rms=0.05)
        assert b.size <= BACKCHANNEL_MAX_S * MIC_HZ + 2 and active_rms(b, MIC_HZ) == pytest.approx(0.05, rel=0.01)


def test_echo_through_paced_streams_is_sample_aligned_at_the_delay():
    """Real paced streams (4x speed), the speaker starting 30 ms after the mic: the mic's echo is the room's offline
    rendering of exactly what the speaker played, shifted by the streams' measured offset; the peak lag is
    delay_ms."""
    cfg = RoomConfig(delay_ms=120, rt60_s=0.3, noise_db=None, seed=1)
    audio = FakeAudio(room=cfg, speed=SPEED)
    clip = soxr.resample(SpeechVoice(n_replies=1).clips[0], 22050, SPK_HZ).astype(np.float32)
    pos = [0]

    def play(outdata, frames, t, status):
        piece = clip[pos[0] : pos[0] + frames]
        outdata[: piece.size, 0] = piece
        pos[0] += frames

    mic = audio.InputStream(samplerate=MIC_HZ, blocksize=MIC_HZ // 50, channels=1, callback=lambda *a: None)
    spk = audio.OutputStream(samplerate=SPK_HZ, blocksize=SPK_HZ // 50, channels=1, callback=play)
    mic.start()
    time.sleep(0.03 / SPEED)
    spk.start()
    time.sleep((clip.size / SPK_HZ + 0.6) / SPEED)
    spk.stop()
    mic.stop()
    echo, played = audio.mic.delivered_echo(), audio.speaker.audio()
    offset = int(round((audio.mic.start_t - audio.speaker.start_t) * SPEED * MIC_HZ))  # mic sample 0, speaker time
    assert offset < 0  # the mic started first (by 30 ms of stream time, more when the threads start late)
    ref = np.concatenate([np.zeros(-offset, np.float32), audio.room.render(played)])  # on the mic's index
    n = min(echo.size, ref.size) - MIC_HZ // 10  # the last blocks may have been cut by stop()
    assert audio.mic.echo_missing < 0.01 * n
    good = np.abs(echo[:n] - ref[:n]) < 1e-5
    assert good.mean() > 0.99
    lag = lag_samples(echo, soxr.resample(played, SPK_HZ, MIC_HZ))
    assert (lag + offset) / MIC_HZ * 1000 == pytest.approx(cfg.delay_ms, abs=0.1)


def test_stand_in_voice_reply_plays_and_comes_back_at_the_mic_delayed():
    """The engine's normal playout path: the speaking voice's reply reaches the speaker at the app's level and the
    mic hears it delay_ms later at echo_gain_db re the speech level."""
    voice = SpeechVoice(n_replies=1)
    cfg = RoomConfig(delay_ms=80, echo_gain_db=3.0, noise_db=None, seed=2)
    audio = FakeAudio(room=cfg, speed=SPEED)
    events = EventCollector()
    eng = Engine(voice.runner(), voice.vocoder(), config=EngineConfig(
        vad=VadConfig(end_silence_ms=500), audio=AudioConfig(prebuffer_ms=60), duplex="half"),
        sink=events, audio=audio, conversation=FakeConversation())
    eng.start()
    try:
        tid = eng.submit_turn(user_sentence(rate_hz=16000))
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == tid, 30)
        time.sleep(0.4 / SPEED)
    finally:
        eng.stop()
    played = audio.speaker.audio()
    assert end.played_s == pytest.approx(voice.clips[0].size / 22050, abs=0.1)
    assert 0.35 < np.abs(played).max() < 0.8
    echo = audio.mic.delivered_echo()
    offset = int(round((audio.mic.start_t - audio.speaker.start_t) * SPEED * MIC_HZ))
    dry = soxr.resample(played, SPK_HZ, MIC_HZ)
    lag = lag_samples(echo, dry)
    assert (lag + offset) / MIC_HZ * 1000 == pytest.approx(cfg.delay_ms, abs=0.1)
    aligned = np.concatenate([np.zeros(lag), dry]) if lag >= 0 else dry[-lag:]
    assert level_db_over(echo, aligned, MIC_HZ, cfg.speech_rms) == pytest.approx(3.0, abs=1.5)  # one clip: see above


@pytest.mark.audio
def test_pulse_bridge_returns_a_played_tone_at_the_mic_after_the_delay(pulse_server, tmp_path):
    from testing.pulse_room import BRIDGE_RATE_HZ, MonitorRecorder, PulseRoom

    t = np.arange(int(0.3 * 48000)) / 48000
    burst = np.concatenate([np.zeros(4800), 0.4 * np.sin(2 * np.pi * 700 * t), np.zeros(4800)]).astype(np.float32)
    sf.write(str(tmp_path / "tone.wav"), burst, 48000)
    pulse_server.pactl("upload-sample", str(tmp_path / "tone.wav"), "room_tone")
    cfg = RoomConfig(delay_ms=150, rt60_s=0.2, drr_db=20.0, echo_gain_db=6.0, noise_db=None)
    with PulseRoom(cfg, pulse_server.env) as bridge:
        spk = MonitorRecorder(pulse_server.env, "spk.monitor")
        mic = MonitorRecorder(pulse_server.env, "micsink.monitor")
        assert spk.wait_started() and mic.wait_started()
        time.sleep(0.3)
        pulse_server.pactl("play-sample", "room_tone", "spk")
        time.sleep(1.0)
        x, y = spk.stop(), mic.stop()
    assert bridge.error is None and bridge.read_samples > BRIDGE_RATE_HZ
    assert np.abs(y).max() > 0.05, "no echo reached the virtual microphone"
    lag_ms = (lag_samples(y, x) + (mic.t0 - spk.t0) * BRIDGE_RATE_HZ) / BRIDGE_RATE_HZ * 1000
    assert lag_ms == pytest.approx(cfg.delay_ms, abs=30.0)

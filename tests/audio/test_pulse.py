"""Real PortAudio through a private PulseAudio server: espeak-ng into a virtual microphone, replies out to a
null sink whose monitor we record; then the server dies mid-reply. Fake runner and vocoder (real: e2e)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from core.engine.config import AudioConfig, EngineConfig
from core.engine.engine import Engine
from core.engine.events import BargeIn, EngineError, EngineState, ErrorKind, ReplyEnded, StateChanged, UserTurnCaptured
from core.turns.config import VadConfig
from tests.engine_fakes import Collector, FakeConversation, FakeDecoder, FakeRunner, default_script

pytestmark = pytest.mark.audio
MONITOR_RATE_HZ = 16000


def tone_share(x: np.ndarray, rate_hz: int, freq_hz: float = 440.0) -> float:
    """Fraction of the spectral energy within +-20 Hz of freq_hz."""
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / rate_hz)
    return float(spec[np.abs(f - freq_hz) < 20].sum() / max(spec.sum(), 1e-12))


def wav_of(speech_factory, text, tmp_path):
    x, rate = speech_factory(text)
    path = tmp_path / "say.wav"
    sf.write(str(path), np.concatenate([np.zeros(rate // 4, np.float32), x]), rate)
    return path


def speak_and_record(pulse_server, eng, events, wav, rec_path, timeout_s: float) -> ReplyEnded:
    """Start `eng`, say `wav` into the virtual microphone and record the speaker sink's monitor into `rec_path`
    (float32 at MONITOR_RATE_HZ) until the first reply has ended (+0.5 s); the engine is stopped in any case."""
    rec = pulse_server.record_monitor(rec_path, MONITOR_RATE_HZ)
    try:
        eng.start()
        pulse_server.play_to_mic(wav)
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded), timeout_s)
        time.sleep(0.5)
    finally:
        eng.stop()
        rec.terminate()
        rec.wait(5)
    return end


def make_engine(runner, **kw):
    events = Collector()
    conv = FakeConversation()
    cfg = EngineConfig(vad=VadConfig(end_silence_ms=500), audio=AudioConfig(prebuffer_ms=100), **kw)
    return Engine(runner, FakeDecoder(), config=cfg, sink=events, conversation=conv), events, conv


def test_real_portaudio_turn_and_reply_reach_the_sink(pulse_server, speech_factory, tmp_path):
    eng, events, conv = make_engine(FakeRunner())
    rec_path = tmp_path / "monitor.raw"
    wav = wav_of(speech_factory, "Hello there, how are you doing today?", tmp_path)
    end = speak_and_record(pulse_server, eng, events, wav, rec_path, 30)
    assert len(events.of(UserTurnCaptured)) == 1
    assert not end.interrupted and end.heard_text == end.text.strip()
    y = np.fromfile(rec_path, dtype=np.float32)
    loud = np.flatnonzero(np.abs(y) > 0.05)
    assert loud.size, "no reply audio at the sink's monitor"
    played = y[loud[0] : loud[-1]]
    assert abs(played.size / MONITOR_RATE_HZ - 30 / 12.5) < 0.3  # the whole 2.4 s reply came out
    assert tone_share(played, MONITOR_RATE_HZ) > 0.8  # and it is the vocoder's 440 Hz tone


def test_server_death_mid_reply_is_reported_and_recoverable(pulse_server, speech_factory, tmp_path):
    eng, events, conv = make_engine(FakeRunner(default_script(words=30)))
    try:
        eng.start()
        pulse_server.play_to_mic(wav_of(speech_factory, "Tell me a long story please.", tmp_path))
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 30)
        time.sleep(0.5)
        pulse_server.kill()
        err = events.wait_for(lambda e: isinstance(e, EngineError) and e.fatal, 5)
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 5)
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.IDLE, 5)
        assert err.kind in (ErrorKind.INPUT_DEVICE, ErrorKind.OUTPUT_DEVICE) and "reconnect" in err.message
        assert end.interrupted and 0 < len(end.heard_text) < len(end.text)
        assert [r for r, _ in conv.turns] == ["user", "assistant"]
        pulse_server.start()  # the sound server is back: the same engine reopens its devices
        eng.start()
        assert eng.state is EngineState.LISTENING
    finally:
        eng.stop()
        if pulse_server.proc is None:
            pulse_server.start()


def test_real_portaudio_barge_in_stops_the_sink(pulse_server, speech_factory, tmp_path):
    eng, events, conv = make_engine(FakeRunner(default_script(words=30)), duplex="headphones", barge_in_ms=200,
                                    interruption="immediate")
    rec_path = tmp_path / "monitor.raw"
    rec = pulse_server.record_monitor(rec_path, MONITOR_RATE_HZ)
    try:
        eng.start()
        pulse_server.play_to_mic(wav_of(speech_factory, "Tell me a long story please.", tmp_path))
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 30)
        time.sleep(1.0)
        pulse_server.play_to_mic(wav_of(speech_factory, "Wait, stop right there.", tmp_path))
        barge = events.wait_for(lambda e: isinstance(e, BargeIn), 10)
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == 1, 5)
        time.sleep(1.0)
    finally:
        eng.stop()
        rec.terminate()
        rec.wait(5)
    stop_ms = 1000 * (barge.stopped_t - barge.speech_start_t)
    print(
        f"real PortAudio barge-in: onset block arrival -> playback stopped {stop_ms:.0f} ms "
        f"(+ one {eng.config.audio.output_block_ms:g} ms output block)"
    )
    assert 150 <= stop_ms < 450  # ~barge_in_ms: not at the first voiced frame, not late
    assert end.interrupted and 0 < len(end.heard_text.split()) < 30
    y = np.fromfile(rec_path, dtype=np.float32)
    loud = np.flatnonzero(np.abs(y) > 0.05)
    tone_s = (loud[-1] - loud[0]) / MONITOR_RATE_HZ
    assert abs(tone_s - end.played_s) < 0.3  # the sink heard exactly the played part, not the 12 s reply

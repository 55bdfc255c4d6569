"""End to end with the REAL runner and vocoder: an espeak-ng utterance spoken into the virtual microphone
must give exactly one turn, a reply from the tiny OpenS2S checkpoint + tiny GLM-4-Voice decoder, and reply
audio at the speaker sink's monitor. Needs `tiny_checkpoint` / `tiny_decoder` (tests/conftest.py on main)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from core.engine.config import AudioConfig, EngineConfig
from core.engine.events import ReplyAudio, ReplyEnded, ReplyText, ReplyUnits, UserTurnCaptured
from core.turns.config import VadConfig
from tests.audio.test_pulse import speak_and_record
from tests.engine_fakes import Collector, FakeDecoder

pytestmark = [pytest.mark.audio, pytest.mark.slow]


def _fixture(request, name: str):
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        pytest.fail(f"fixture {name!r} is missing from tests/conftest.py")


@pytest.fixture(scope="module")
def real_runner(request):
    from core.lm import runner as runner_mod

    return runner_mod.OpenS2SRunner.load(_fixture(request, "tiny_checkpoint"), device="cpu")


@pytest.fixture(scope="module")
def real_models(request, real_runner, tmp_path_factory):
    from core.voice import vocoder as vocoder_mod

    try:
        decoder_dir = request.getfixturevalue("tiny_decoder")
    except pytest.FixtureLookupError:  # until tests/conftest.py provides it: make the same tiny decoder here
        from models.tiny_decoder import make_tiny_decoder

        decoder_dir = make_tiny_decoder(tmp_path_factory.mktemp("tiny_decoder"))
    return real_runner, vocoder_mod.Vocoder.load(decoder_dir, backend="torch", device="cpu")


def converse_once(runner, decoder, pulse, speech_factory, tmp_path, sampling=None):
    """Speak one espeak-ng utterance into the virtual mic; return (events, monitor recording [N] at 16 kHz)."""
    from core.engine.engine import Engine

    x, rate = speech_factory("Hello there, how are you doing today?")
    wav = tmp_path / "say.wav"
    sf.write(str(wav), np.concatenate([np.zeros(rate // 4, np.float32), x]), rate)
    events = Collector()
    cfg = EngineConfig(vad=VadConfig(end_silence_ms=500), audio=AudioConfig(prebuffer_ms=100))
    eng = Engine(runner, decoder, config=cfg, sink=events, sampling=sampling)
    rec_path = tmp_path / "monitor.raw"
    speak_and_record(pulse, eng, events, wav, rec_path, 240)
    assert [t.role for t in eng.conversation.turns] == ["user", "assistant"]
    return events, np.fromfile(rec_path, dtype=np.float32)


def test_spoken_turn_gets_a_real_reply_at_the_speaker(real_models, pulse_server, speech_factory, tmp_path):
    from core.lm.sampling import SamplingConfig

    runner, decoder = real_models
    sampling = SamplingConfig(seed=0, max_text_tokens=24, max_units=48)
    events, y = converse_once(runner, decoder, pulse_server, speech_factory, tmp_path, sampling)
    end = events.of(ReplyEnded)[0]
    print(f"real reply: {end.generated_s:.2f} s generated, {end.played_s:.2f} s played, {end.underruns} underruns")
    assert len(events.of(UserTurnCaptured)) == 1
    assert end.error is None, end.error
    assert events.of(ReplyUnits) and end.generated_s > 0
    produced = np.concatenate([e.chunk.samples for e in events.of(ReplyAudio)])
    assert float(np.max(np.abs(produced))) > 0
    level = float(np.max(np.abs(y))) if y.size else 0.0
    assert level > min(0.5 * float(np.max(np.abs(produced))), 1e-3), "no reply audio at the sink's monitor"


def test_real_runner_reply_reaches_the_speaker(real_runner, pulse_server, speech_factory, tmp_path):
    """The real runner with a sine vocoder: runs before the real vocoder has landed."""
    from core.lm.sampling import SamplingConfig

    sampling = SamplingConfig(seed=0, max_text_tokens=24, max_units=48)
    events, y = converse_once(real_runner, FakeDecoder(), pulse_server, speech_factory, tmp_path, sampling)
    end = events.of(ReplyEnded)[0]
    assert len(events.of(UserTurnCaptured)) == 1
    assert end.error is None, end.error
    assert events.of(ReplyText) and events.of(ReplyUnits) and end.generated_s > 0
    assert not end.interrupted and end.heard_text == end.text.strip()
    assert float(np.max(np.abs(y))) > 0.1, "no reply audio at the sink's monitor"

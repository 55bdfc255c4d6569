"""Full duplex through real PortAudio and a real PulseAudio server: the speaker sink's monitor comes back into the
virtual microphone through the room rig (testing.pulse_room), the engine cancels its own echo, and the user's
sentence played into the microphone over the reply stops it and becomes the next turn."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from core.engine.config import AudioConfig, EngineConfig
from core.engine.engine import Engine
from core.engine.events import BargeIn, EngineState, ReplyEnded, ReplyPaused, StateChanged, UserTurnCaptured
from testing.collector import EventCollector
from testing.list_history import ListHistory
from testing.pulse_room import PulseRoom
from testing.room import RoomConfig
from testing.speech_voice import SpeechVoice, user_sentence

pytestmark = [pytest.mark.audio, pytest.mark.slow]
ROOM = RoomConfig(delay_ms=80.0, rt60_s=0.3, echo_gain_db=3.0, noise_db=-45.0, seed=21)
TEXT = "I think a short walk outside would help you feel calmer. Maybe call a friend tonight as well."


def test_speakers_mode_on_real_pulseaudio_ignores_its_echo_and_hears_the_user(pulse_server, tmp_path):
    voice = SpeechVoice(texts=[TEXT], split="train", seed=2)
    events = EventCollector()
    cfg = EngineConfig(duplex="speakers", audio=AudioConfig(prebuffer_ms=100))
    eng = Engine(voice.runner(), voice.vocoder(), config=cfg, sink=events, conversation=ListHistory())
    user = user_sentence(split="train", seed=4, rate_hz=48000)
    wav = tmp_path / "user.wav"
    sf.write(str(wav), np.concatenate([np.zeros(4800, np.float32), user]), 48000)
    with PulseRoom(ROOM, pulse_server.env) as bridge:
        try:
            eng.start()
            eng.submit_turn(np.zeros(8000, np.float32))  # reply 1: played with only its echo coming back
            end1 = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == 1, 40)
            # a blip of residual echo may pause it for a moment (docs/duplex.md: 7 of 20 on the rig); never stop it
            assert not end1.interrupted and not events.of(BargeIn) and len(events.of(ReplyPaused)) <= 2
            assert not [e for e in events.of(UserTurnCaptured) if e.turn_id > 1], "the echo became a turn"
            eng.submit_turn(np.zeros(8000, np.float32))  # reply 2: the user talks over it
            events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING
                            and len(events.of(ReplyEnded)) == 1, 20)
            time.sleep(1.0)
            pulse_server.play_to_mic(wav)
            end2 = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == 2, 20)
            turn = events.wait_for(lambda e: isinstance(e, UserTurnCaptured) and e.turn_id == 3, 20)
        finally:
            eng.stop()
    assert bridge.error is None
    assert end2.interrupted and events.of(BargeIn)
    assert turn.samples.size / 16000 > 0.8 * user.size / 48000  # the sentence, not a fragment

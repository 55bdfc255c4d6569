"""The engine end to end through a fake sounddevice backend (real callbacks, real time), real silero-vad,
espeak-ng speech, and a fake runner/vocoder: turns, replies, barge-in, and every kind of bad input."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soxr

from core.audio.levels import LevelConfig, MicLevel
from core.engine.engine import Engine
from core.engine.events import BargeIn, EngineError, EngineState, ErrorKind, ReplyEnded, StateChanged, UserTurnCaptured
from core.lm.events import StopReason
from core.turns.config import VadConfig
from models.errors import DeviceError
from tests.engine.helpers import config
from tests.engine_fakes import Collector, FakeAudio, FakeConversation, FakeDecoder, FakeRunner, default_script

PHRASE = "Hello there, how are you doing today?"


def say(audio: FakeAudio, speech_factory, text: str = PHRASE) -> dict:
    x, rate = speech_factory(text)
    return audio.mic.inject(soxr.resample(x, rate, audio.in_rate_hz).astype(np.float32))


def states(events: Collector) -> list[str]:
    return [e.new.value for e in events.of(StateChanged)]


def test_one_turn_one_full_reply(rig, speech_factory):
    eng, events, audio, runner, conv = rig()
    eng.start()
    say(audio, speech_factory)
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.reason == "reply_done", 5)
    turns = events.of(UserTurnCaptured)
    assert len(turns) == 1 and turns[0].reason == "silence"
    assert end.reason is StopReason.EOS and not end.interrupted and end.underruns == 0
    assert end.heard_text == end.text.strip() == " ".join(f"word{i}" for i in range(6))
    assert abs(end.played_s - 30 / 12.5) < 0.05  # 30 units of 80 ms, all played
    assert states(events) == ["listening", "thinking", "speaking", "listening"]
    assert [r for r, _ in conv.turns] == ["user", "assistant"] and conv.turns[1][1] == end.heard_text
    # the pre-roll keeps the onset: the turn starts with (quiet) audio before the first loud sample
    x = turns[0].samples
    onset = int(np.argmax(np.abs(x) > 0.05))
    assert onset >= 0.05 * 16000  # without pre-roll the first kept frame is already loud
    assert 1.0 < x.size / 16000 < 4.0
    # the speaker got the reply: a 440 Hz tone lasting the reply, and the timing marks are ordered
    loud = audio.speaker.loud_times()
    assert loud and loud[-1] - loud[0] > 2.0
    t = end.timing  # speculative turn start is on by default: the reply began before the turn was dispatched
    assert t.speculated_t is not None and t.speculated_t < t.dispatched_t
    assert t.speculated_t <= t.first_units_t <= t.first_needed_units_t <= t.first_push_t <= t.first_audio_t
    assert t.dispatched_t <= t.first_written_t <= t.first_play_t and t.first_audio_t <= t.first_written_t
    assert any(isinstance(e, MicLevel) for e in events.events)


def test_half_duplex_ignores_speech_while_speaking(rig, speech_factory):
    eng, events, audio, runner, conv = rig(runner=FakeRunner(default_script(words=12)))
    eng.start()
    say(audio, speech_factory)
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 15)
    say(audio, speech_factory, "Stop talking please.")
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)
    time.sleep(1.0)
    assert not end.interrupted and not events.of(BargeIn)
    assert len(events.of(UserTurnCaptured)) == 1


def test_barge_in_stops_playback_cancels_and_clips_history(rig, speech_factory):
    runner = FakeRunner(default_script(words=25))
    eng, events, audio, runner, conv = rig(runner=runner, duplex="headphones", barge_in_ms=200,
                                           interruption="immediate")
    eng.start()
    say(audio, speech_factory)
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 15)
    time.sleep(1.5)
    rec = say(audio, speech_factory, "Wait, stop, I have a question.")
    onset_s = int(np.argmax(np.abs(audio.mic.injections[-1]["clip"]) > 0.02)) / audio.in_rate_hz
    barge = events.wait_for(lambda e: isinstance(e, BargeIn), 10)
    runner.script = default_script(words=3)  # a short answer to the interruption (it is still being spoken)
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 5)
    time.sleep(0.3)
    speech_t = rec["start_t"] + onset_s  # wall time the first voiced sample reached the callback
    loud_after = [t for t in audio.speaker.loud_times() if t >= speech_t]
    stop_ms = 1000 * (loud_after[-1] - speech_t) if loud_after else 0.0
    print(f"barge-in: playback stopped {stop_ms:.0f} ms after the interrupting speech began")
    assert barge.turn_id == 1 and end.turn_id == 1 and end.interrupted
    assert stop_ms < 600  # barge_in_ms (200) + VAD onset + one capture and one output block
    stream = runner.streams[0]
    assert stream.cancelled_t is not None and stream.ended_t is not None
    assert stream.ended_t - stream.cancelled_t < 0.2  # generation stopped within one step
    assert end.reason is StopReason.CANCELLED
    words = end.heard_text.split()
    assert 0 < len(words) < 25 and end.text.startswith(end.heard_text)
    assert abs(len(words) - end.played_s * 12.5 / 5) <= 1.0  # 5 units (0.4 s) per word
    # the interrupting speech becomes the next turn, answered in full
    end2 = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == 2, 30)
    assert [r for r, _ in conv.turns] == ["user", "assistant", "user", "assistant"]
    assert conv.turns[1][1] == end.heard_text and conv.turns[3][1] == end2.heard_text
    assert len(events.of(UserTurnCaptured)) == 2


def test_model_raising_mid_reply_keeps_heard_text_and_recovers(rig, speech_factory):
    runner = FakeRunner(fail_at=7)  # after 3 words (+ units) and one more text delta
    eng, events, audio, runner, conv = rig(runner=runner)
    eng.start()
    say(audio, speech_factory)
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)
    err = events.wait_for(lambda e: isinstance(e, EngineError), 2)
    assert err.kind is ErrorKind.MODEL and "fake model exploded" in err.message and not err.fatal
    assert "\n" not in err.message
    assert end.reason is StopReason.ERROR and end.heard_text == "word0 word1 word2"
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.reason == "reply_done", 5)
    runner.fail_at = None
    say(audio, speech_factory, "Let us try again.")
    end2 = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == 2, 20)
    assert end2.reason is StopReason.EOS
    assert [r for r, _ in conv.turns] == ["user", "assistant", "user", "assistant"]
    assert conv.turns[1][1] == "word0 word1 word2"


def test_vocoder_raising_reports_and_recovers(rig, speech_factory):
    # slow steps: every word's units reach the vocoder as a push of their own; the 2nd push fails mid-reply
    runner = FakeRunner(step_s=0.05)
    eng, events, audio, runner, conv = rig(runner=runner, decoder=FakeDecoder(fail_at_push=1))
    eng.start()
    say(audio, speech_factory)
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)
    err = events.wait_for(lambda e: isinstance(e, EngineError), 2)
    assert err.kind is ErrorKind.VOCODER and end.reason is StopReason.ERROR and not end.interrupted
    assert runner.streams[0].cancelled_t is not None  # generation stopped with the vocoder
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.reason == "reply_done", 5)
    assert eng.state is EngineState.LISTENING and [r for r, _ in conv.turns] == ["user", "assistant"]


@pytest.mark.parametrize("kind", ["input", "output"])
def test_device_vanishing_mid_reply_goes_idle_and_restarts(rig, speech_factory, kind):
    eng, events, audio, runner, conv = rig(runner=FakeRunner(default_script(words=20)))
    eng.start()
    say(audio, speech_factory)
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 15)
    time.sleep(0.5)
    audio.stream(kind).kill()
    err = events.wait_for(lambda e: isinstance(e, EngineError), 3)
    assert err.fatal and err.kind is (ErrorKind.INPUT_DEVICE if kind == "input" else ErrorKind.OUTPUT_DEVICE)
    assert "reconnect" in err.message
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 5)
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.IDLE, 5)
    assert end.interrupted and end.text.startswith(end.heard_text)
    assert [r for r, _ in conv.turns] == ["user", "assistant"]  # the log is intact
    eng.start()  # the device is back: usable again
    assert eng.state is EngineState.LISTENING


def test_no_devices_or_refused_rate_raise_device_error(rig):
    for audio, match in [
        (FakeAudio(has_input=False), "input"),
        (FakeAudio(has_output=False), "output"),
        (FakeAudio(refuse_rates=(48000,)), "refused 48000 Hz"),
    ]:
        eng, events, *_ = rig(audio=audio)
        with pytest.raises(DeviceError, match=match):
            eng.start()
        err = events.wait_for(lambda e: isinstance(e, EngineError), 2)
        assert err.fatal and eng.state is EngineState.IDLE and "\n" not in err.message


def test_silence_only_warns_once_and_never_dispatches(rig):
    eng, events, audio, runner, conv = rig(levels=LevelConfig(silence_warn_s=1.0))
    eng.start()
    time.sleep(2.5)
    warnings = [e for e in events.of(EngineError) if e.kind is ErrorKind.INPUT_SIGNAL]
    assert len(warnings) == 1 and "silence" in warnings[0].message
    assert not events.of(UserTurnCaptured) and eng.state is EngineState.LISTENING


def test_continuous_noise_warns_and_never_dispatches(rig):
    eng, events, audio, runner, conv = rig(audio=FakeAudio(noise_rms=0.1), levels=LevelConfig(noise_warn_s=1.5))
    eng.start()
    time.sleep(3.0)
    warnings = [e for e in events.of(EngineError) if e.kind is ErrorKind.INPUT_SIGNAL]
    assert len(warnings) == 1 and "noise" in warnings[0].message
    assert not events.of(UserTurnCaptured) and eng.state is EngineState.LISTENING


def test_monologue_longer_than_max_turn_is_cut_reported_and_answered(rig, speech_factory):
    vad = VadConfig(end_silence_ms=500, max_turn_ms=2000)
    eng, events, audio, runner, conv = rig(vad=vad, duplex="half")  # the monologue's rest plays over the reply
    eng.start()
    say(
        audio,
        speech_factory,
        "This is a very long monologue that just keeps going on and on, without "
        "any real pause, far beyond the maximum length of a single turn.",
    )
    turn = events.wait_for(lambda e: isinstance(e, UserTurnCaptured), 15)
    err = events.wait_for(lambda e: isinstance(e, EngineError), 2)
    assert turn.reason == "max_length" and abs(turn.samples.size / 16000 - 2.0) < 0.05
    assert err.kind is ErrorKind.INPUT_SIGNAL and "maximum" in err.message
    events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.reason == "reply_done", 5)
    while audio.mic.busy():
        time.sleep(0.1)
    time.sleep(1.0)
    assert len(events.of(UserTurnCaptured)) == 1  # the rest of the monologue did not become a turn
    assert eng.state is EngineState.LISTENING and [r for r, _ in conv.turns] == ["user", "assistant"]


def test_interrupt_button_and_submitted_turn(rig, caplog):
    eng, events, audio, runner, conv = rig(runner=FakeRunner(default_script(words=20)))
    eng.start()
    tid = eng.submit_turn(np.zeros(16000, np.float32))
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 10)
    time.sleep(0.6)
    with caplog.at_level("INFO", logger="core.engine.reply_control"):
        eng.interrupt()
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 5)
    # the stop button is logged as a stop, not as "barge-in … after 0 ms of speech" (issue 34, finding 11)
    assert "reply 1 stopped (stop button)" in caplog.text and "barge-in" not in caplog.text
    assert tid == 1 and end.interrupted and end.reason is StopReason.CANCELLED
    assert 0 < len(end.heard_text.split()) < 20 and conv.turns[-1] == ("assistant", end.heard_text)
    assert events.of(UserTurnCaptured)[0].reason == "submitted"
    assert states(events)[-1] == "listening"


def test_capture_overflow_is_reported(rig):
    eng, events, audio, runner, conv = rig()
    eng.start()
    eng._audio.capture.dropped_blocks += 3  # as if the callback had found the queue full three times
    err = events.wait_for(lambda e: isinstance(e, EngineError), 2)
    assert err.kind is ErrorKind.INTERNAL and "3 blocks were dropped" in err.message and not err.fatal


class _BrokenVad:
    """A VAD that fails on every 50th frame."""

    def __init__(self) -> None:
        from core.turns.vad import SileroVad

        self._vad, self.n = SileroVad(), 0

    def prob(self, frame):
        self.n += 1
        if self.n % 50 == 0:
            raise RuntimeError("vad glitch")
        return self._vad.prob(frame)

    def reset(self):
        self._vad.reset()


def test_internal_error_in_capture_is_reported_and_listening_continues(speech_factory):
    audio, events, conv = FakeAudio(), Collector(), FakeConversation()
    eng = Engine(
        FakeRunner(), FakeDecoder(), config=config(), sink=events, audio=audio, conversation=conv, vad=_BrokenVad()
    )
    try:
        eng.start()
        err = events.wait_for(lambda e: isinstance(e, EngineError), 5)
        assert err.kind is ErrorKind.INTERNAL and "vad glitch" in err.message
        say(audio, speech_factory)
        events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)  # still hears turns
    finally:
        eng.stop()


def test_model_failing_before_any_audio_says_so_and_recovers(rig):
    eng, events, audio, runner, conv = rig(runner=FakeRunner(fail_at=0))
    eng.start()
    eng.submit_turn(np.full(16000, 0.1, np.float32))
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 5)
    err = events.wait_for(lambda e: isinstance(e, EngineError), 2)
    assert end.reason is StopReason.ERROR and end.heard_text == "" and end.played_s == 0
    assert err.kind is ErrorKind.MODEL and "could not produce a reply" in err.message
    events.wait_for(lambda e: isinstance(e, StateChanged) and e.reason == "reply_done", 5)
    assert eng.state is EngineState.LISTENING and [r for r, _ in conv.turns] == ["user", "assistant"]


def test_recorder_as_engine_sink_keeps_turn_reply_and_log(tmp_path):
    import json

    import soundfile as sf

    from core.engine.recorder import SessionRecorder

    audio, events, conv = FakeAudio(), Collector(), FakeConversation()
    rec = SessionRecorder(tmp_path / "rec", events)
    eng = Engine(FakeRunner(), FakeDecoder(), config=config(), sink=rec, audio=audio, conversation=conv)
    try:
        eng.start()
        eng.submit_turn(np.full(8000, 0.1, np.float32))
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 10)
    finally:
        eng.stop()
        rec.close()
    log = [json.loads(x) for x in (tmp_path / "rec" / "session.jsonl").read_text().splitlines()]
    types = [x["type"] for x in log]
    assert types[:2] == ["DuplexResolved", "StateChanged"] and "UserTurnCaptured" in types and "ReplyEnded" in types
    assert log[types.index("ReplyEnded")]["heard_text"] == end.heard_text
    assert sf.info(str(tmp_path / "rec" / "user_001.wav")).frames == 8000
    assert sf.info(str(tmp_path / "rec" / "reply_001.wav")).frames == 30 * 1764  # every vocoder sample


@pytest.mark.parametrize("priority", [True, False])
def test_first_chunk_priority_pauses_decoding_during_the_first_push(rig, priority):
    decoder = FakeDecoder(push_delay_s=0.15)
    eng, events, audio, runner, conv = rig(decoder=decoder, first_chunk_priority=priority)
    steps: list[tuple[bool, int]] = []  # (vocoder busy, pushes so far) at each decode step
    runner.on_step = lambda: steps.append((decoder.in_push, decoder.pushes))
    eng.start()
    eng.submit_turn(np.full(16000, 0.1, np.float32))
    events.wait_for(lambda e: isinstance(e, ReplyEnded), 10)
    during_first_push = [busy for busy, pushes in steps if pushes == 1 and busy]
    assert (len(during_first_push) == 0) is priority

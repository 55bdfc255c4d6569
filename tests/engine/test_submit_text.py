"""Engine.submit_text: a typed user turn goes into the history as text and gets a normal reply."""

from __future__ import annotations

from core.engine.config import EngineConfig
from core.engine.engine import Engine
from core.engine.events import EngineError, ReplyEnded, UserTextSubmitted
from core.lm.conversation import Conversation
from tests.engine_fakes import Collector, FakeAudio, FakeDecoder, FakeRunner


class _NoVad:
    def prob(self, frame) -> float:
        return 0.0

    def reset(self) -> None:
        pass


def test_typed_turn_gets_a_reply_and_enters_history():
    events, runner, conv = Collector(), FakeRunner(), Conversation()
    eng = Engine(
        runner,
        FakeDecoder(),
        config=EngineConfig(),
        sink=events,
        audio=FakeAudio(speed=4.0),
        conversation=conv,
        vad=_NoVad(),
    )
    with eng:
        tid = eng.submit_text("hello there")
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)
        assert eng.submit_text("   ") == -1
        events.wait_for(lambda e: isinstance(e, EngineError), 5)
    typed = events.of(UserTextSubmitted)[0]
    assert (typed.turn_id, typed.text) == (tid, "hello there")
    assert end.turn_id == tid and end.error is None
    assert [(t.role, t.text) for t in conv.turns][0] == ("user", "hello there")
    assert conv.turns[1].role == "assistant"
    assert not hasattr(eng, "transcript")  # the conversation is the one history

"""Small pieces of the app without the model: live partial transcripts, push-to-talk tap, display helpers."""

from __future__ import annotations

import numpy as np

from app.window.partial_feed import FLUSH_FRAMES, PartialFeed
from app.window.talk_vad import TalkVad
from core.engine.events import EngineState, StateChanged, UserTurnCaptured
from core.listeners.events import UserTranscript
from core.turns.events import SpeechDiscarded, SpeechStarted
from ui.controls import meter_value
from ui.conversation_view import ZERO_WIDTH_SPACE, printable

FRAME = np.full(512, 0.1, np.float32)


class FakeListeners:
    def __init__(self) -> None:
        self.partials: list[int] = []
        self.resets = 0

    def on_user_audio_partial(self, samples, turn_id) -> None:
        assert turn_id is None
        self.partials.append(samples.size)

    def reset_user_audio(self) -> None:
        self.resets += 1


class ConstVad:
    def prob(self, frame) -> float:
        return 0.9

    def reset(self) -> None:
        pass


def test_partial_feed_follows_speech_start_and_end():
    lis = FakeListeners()
    feed = PartialFeed(lambda: lis)
    vad = TalkVad(ConstVad)
    vad.set_tap(feed.on_frame)
    for _ in range(FLUSH_FRAMES):
        assert vad.prob(FRAME) == 0.9
    assert lis.partials == []  # not speaking yet
    feed.on_event(SpeechStarted(0.0))
    for _ in range(2 * FLUSH_FRAMES):
        vad.prob(FRAME)
    assert lis.partials == [FLUSH_FRAMES * 512] * 2
    feed.on_event(SpeechDiscarded(1.0, 100.0))
    vad.prob(FRAME)
    assert lis.resets == 1 and len(lis.partials) == 2


def test_push_to_talk_records_only_while_held_and_reports_no_speech():
    vad = TalkVad(ConstVad)
    vad.set_push_to_talk(True)
    assert vad.prob(FRAME) == 0.0
    vad.begin()
    for _ in range(3):
        assert vad.prob(FRAME) == 0.0
    clip = vad.finish()
    vad.prob(FRAME)
    assert clip.size == 3 * 512 and vad.finish().size == 0


def test_live_bubble_becomes_the_captured_turn(qtbot):
    from app.window.turns import ConversationLog
    from ui.controls import StatusStrip
    from ui.conversation_view import ConversationView
    from ui.presenter import LIVE_TURN_ID, Presenter

    view, strip = ConversationView(), StatusStrip()
    qtbot.addWidget(view)
    p = Presenter(view, strip, ConversationLog())
    p.handle(UserTranscript(None, "hel", False))
    assert view.find("user", LIVE_TURN_ID) is None  # not listening yet: ignored
    p.handle(StateChanged(EngineState.IDLE, EngineState.LISTENING, "started"))
    p.handle(UserTranscript(None, "hello th", False))
    live = view.find("user", LIVE_TURN_ID)
    assert live.plain_text == "hello th …" and live.note.text() == "hearing"
    p.handle(UserTurnCaptured(3, np.zeros(16000, np.float32), 16000, 0.0, 1.0, 1.5, "silence"))
    assert view.find("user", LIVE_TURN_ID) is None and view.find("user", 3) is live
    assert live.plain_text == "hello th …"  # the partial stays until the final transcript
    p.handle(UserTranscript(3, "hello there", True))
    assert live.plain_text == "hello there"


def test_a_continued_turn_shows_as_one_user_turn(qtbot, tmp_path):
    """The user went on after an early commit: the early turn's bubbles leave the view (the merged turn holds its
    audio), late events for it do not bring them back, and the log keeps it marked superseded (export too)."""
    from app.window.turns import ConversationLog, export_conversation, load_export
    from core.engine.events import ReplyEnded, ReplyText
    from core.lm.events import StopReason, TextDelta
    from ui.controls import StatusStrip
    from ui.conversation_view import ConversationView
    from ui.presenter import Presenter

    view, strip, log = ConversationView(), StatusStrip(), ConversationLog()
    qtbot.addWidget(view)
    p = Presenter(view, strip, log)
    p.handle(UserTurnCaptured(1, np.zeros(16000, np.float32), 16000, 0.0, 1.0, 1.2, "semantic"))
    p.handle(ReplyText(1, TextDelta("Sure", (5,))))
    p.handle(UserTurnCaptured(2, np.zeros(40000, np.float32), 16000, 0.0, 2.5, 2.7, "semantic", continues_turn=1))
    p.handle(ReplyEnded(1, StopReason.CANCELLED, "Sure", "", True, 0.0, 0.3, 0))  # late: the early reply stopped
    p.handle(UserTranscript(1, "I went to", True))
    assert view.find("user", 1) is None and view.find("assistant", 1) is None
    assert view.find("user", 2) is not None
    assert [(r.role, r.turn_id, r.superseded) for r in log.turns] == [
        ("user", 1, True), ("assistant", 1, True), ("user", 2, False)]
    back = load_export(export_conversation(log, tmp_path / "export").parent)
    assert [r.superseded for r in back.turns] == [True, True, False]


def test_display_helpers():
    assert printable("a\x0cb\x06c") == "abc"
    long = "x" * 60
    assert ZERO_WIDTH_SPACE in printable(long) and printable(long).replace(ZERO_WIDTH_SPACE, "") == long
    assert printable("short words stay") == "short words stay"
    assert meter_value(-90) == 0 and meter_value(0) == 100 and meter_value(-30) == 50


def test_a_listener_ready_in_the_load_snapshot_is_logged_once(qtbot, caplog):
    """After a model load the window shows the listeners' statuses from a snapshot; one already "ready" there is
    shown from it, and its queued "ready" event then changes nothing: the line is logged once, from the snapshot."""
    import logging

    from app.window.turns import ConversationLog
    from core.listeners.events import ListenerStatus
    from ui.controls import StatusStrip
    from ui.conversation_view import ConversationView
    from ui.presenter import Presenter

    view, strip = ConversationView(), StatusStrip()
    qtbot.addWidget(view)
    p = Presenter(view, strip, ConversationLog())
    ready = ListenerStatus("assistant_emotion", True, "ready", checkpoint="/d/demo/listeners/text_emotion")
    loading = ListenerStatus("asr", False, "loading", checkpoint="/d/demo/listeners/asr")
    with caplog.at_level(logging.INFO, logger="ui.presenter"):
        p.set_listener_statuses({"asr": loading, "assistant_emotion": ready})
        p.handle(ready)  # the event the listener emitted before the snapshot was read, delivered after it
    assert caplog.text.count("listener shown: assistant_emotion: ready") == 1, caplog.text
    assert caplog.text.count("listener shown: asr: loading") == 1, caplog.text

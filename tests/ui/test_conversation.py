"""The window with the real tiny model + tiny vocoder behind the real engine, fed by a fake sound card:
a spoken turn (espeak-ng through the fake microphone, real silero-vad), a typed turn, streaming text,
listener transcript/emotion, replay, interrupt, and the export round trip."""

from __future__ import annotations

import numpy as np

from app.readable import shown_text
from app.window.turns import load_export
from core.engine.events import ReplyEnded
from tests.ui.helpers import (
    TEST_SETTINGS,
    WAIT_MS,
    load_into,
    speech_at,
    with_listeners,
)
from ui.conversation_view import NOTHING_READABLE, printable

MIN_DISTINCT_LENGTHS = 3


def _watch_reply(win, tmp_path):
    """Record the assistant bubble's text length at every streamed delta; screenshot the window mid-reply.
    The raw text is measured: a random-weight model's reply may be mostly control characters, which the
    bubble hides, and which deltas they fall in depends on where the VAD cut the turn."""
    lengths: list[int] = []

    def on_delta(turn_id: int, text: str) -> None:
        bubble = win.view.find("assistant", turn_id)
        assert bubble.raw_text == text  # the whole reply so far, streamed into the bubble
        assert bubble.plain_text in (printable(text), NOTHING_READABLE)
        lengths.append(len(bubble.raw_text))
        if len(lengths) == MIN_DISTINCT_LENGTHS:
            assert win.grab().save(str(tmp_path / "mid_reply.png"))

    win.presenter.reply_text_changed.connect(on_delta)
    return lengths


def test_spoken_then_typed_turn_stream_into_bubbles(
    qtbot, make_window, tiny_models, tiny_listener_dirs, speech_factory, tmp_path
):
    win = make_window(with_listeners(TEST_SETTINGS, tiny_listener_dirs))
    load_into(qtbot, win, tiny_models)
    lengths = _watch_reply(win, tmp_path)
    audio = win.session.audio
    with qtbot.waitSignal(win.presenter.reply_ended, timeout=WAIT_MS):
        audio.mic.inject(speech_at(speech_factory, "Hello there, how are you today?", audio.in_rate_hz))
    assert len(set(lengths)) >= MIN_DISTINCT_LENGTHS, lengths
    assert (tmp_path / "mid_reply.png").stat().st_size > 10_000
    user = win.conversation_log.find("user", 1)
    assert user is not None and user.sample_rate_hz == 16000 and user.audio_s > 1.0
    reply = win.conversation_log.find("assistant", 1)
    assert reply.text and reply.chunks and reply.sample_rate_hz == 22050
    qtbot.waitUntil(lambda: win.strip.state_name == "listening", timeout=WAIT_MS)
    # listeners: a final transcript replaces the "n s of speech" placeholder; emotions are shown
    qtbot.waitUntil(lambda: bool(user.emotions) and "s of speech" not in win.view.find("user", 1).plain_text,
                    timeout=WAIT_MS)
    assert win.view.find("user", 1).emotion.isVisible()
    assert "Transcript: on" in win.strip.listeners.toolTip()
    assert win.view.find("user", 0) is None  # no live "hearing…" bubble left behind
    print(f"live partial transcripts shown: {win.presenter.partials_shown}")

    lengths.clear()
    with qtbot.waitSignal(win.presenter.reply_ended, timeout=WAIT_MS):
        win.controls.entry.setText("Tell me a story")
        win.controls.send.click()
    assert len(set(lengths)) >= MIN_DISTINCT_LENGTHS, lengths
    typed = win.conversation_log.find("user", 2)
    assert typed.typed and typed.text == "Tell me a story"
    turns = win.session.conversation.turns
    assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[0].audio is not None and turns[2].text == "Tell me a story"

    # export round trip: JSON + one 16-bit WAV per turn with audio, read back as the window shows it
    win.export_to(tmp_path / "export")
    back = load_export(tmp_path / "export")
    assert [(t.role, t.turn_id, t.text) for t in back.turns] == [
        (t.role, t.turn_id, shown_text(t.text)) for t in win.conversation_log.turns
    ]
    for orig, got in zip(win.conversation_log.turns, back.turns, strict=True):
        assert got.sample_rate_hz == orig.sample_rate_hz
        np.testing.assert_allclose(got.audio(), np.clip(orig.audio(), -1, 1), atol=1 / 32767)
        assert got.emotions == [(lab, round(c, 4)) for lab, c in orig.emotions]

    # replay goes through the same injected backend
    n_streams = len(audio.streams)
    win.replay_turn("assistant", 1)
    assert len(audio.streams) == n_streams + 1 and win.replay.playing
    qtbot.waitUntil(lambda: not win.replay.playing, timeout=WAIT_MS)


def test_stop_button_interrupts_a_reply_and_new_conversation_clears_history(qtbot, make_window, tiny_models):
    win = make_window()
    load_into(qtbot, win, tiny_models)
    ended: list[ReplyEnded] = []
    win.session.event.connect(lambda ev: ended.append(ev) if isinstance(ev, ReplyEnded) else None)
    win.controls.entry.setText("Say something long")
    win.controls.send.click()
    qtbot.waitUntil(lambda: win.strip.state_name == "speaking", timeout=WAIT_MS)
    with qtbot.waitSignal(win.presenter.reply_ended, timeout=WAIT_MS):
        win.controls.stop.click()
    assert ended[-1].interrupted
    assert "interrupted" in win.view.find("assistant", 1).note.text()
    assert win.conversation_log.find("assistant", 1).interrupted
    qtbot.waitUntil(lambda: win.strip.state_name == "listening", timeout=WAIT_MS)

    win.actions_.new.trigger()
    qtbot.waitUntil(lambda: not win.session.conversation.turns and win.strip.state_name == "listening",
                    timeout=WAIT_MS)
    assert win.view.bubbles() == [] and win.conversation_log.turns == []


def test_push_to_talk_records_while_held(qtbot, make_window, tiny_models, speech_factory):
    win = make_window()
    load_into(qtbot, win, tiny_models)
    win.controls.mode.setCurrentIndex(1)
    assert win.session.talk_vad.push_to_talk and win.controls.talk.isEnabled()
    audio = win.session.audio
    clip = speech_at(speech_factory, "Push to talk works", audio.in_rate_hz)
    with qtbot.waitSignal(win.presenter.reply_ended, timeout=WAIT_MS):
        win.controls.talk.pressed.emit()
        rec = audio.mic.inject(clip)
        qtbot.waitUntil(lambda: rec["end_t"] is not None, timeout=WAIT_MS)
        win.controls.talk.released.emit()
    user = win.conversation_log.find("user", 1)
    assert user.audio_s > 1.0 and win.view.find("user", 1).note.text() == "push-to-talk"


def test_talk_key_works_in_hands_free_mode(qtbot, make_window, tiny_models, speech_factory):
    from PySide6.QtCore import Qt

    win = make_window()
    load_into(qtbot, win, tiny_models)
    assert not win.session.talk_vad.push_to_talk
    audio = win.session.audio
    with qtbot.waitSignal(win.presenter.reply_ended, timeout=WAIT_MS):
        qtbot.keyPress(win, Qt.Key.Key_F2)
        assert win.session.talk_vad.push_to_talk
        rec = audio.mic.inject(speech_at(speech_factory, "Talk key", audio.in_rate_hz))
        qtbot.waitUntil(lambda: rec["end_t"] is not None, timeout=WAIT_MS)
        qtbot.keyRelease(win, Qt.Key.Key_F2)
    assert not win.session.talk_vad.push_to_talk
    assert win.view.find("user", 1).note.text() == "push-to-talk"

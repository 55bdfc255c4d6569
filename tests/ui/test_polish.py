"""Issue 34, the window's polish (findings 4, 5, 7, 8, 9, 11, 14): settings that fit a 768 px screen and speak the
dialog's own labels, cleaned notes, no empty bubble after a stop while thinking, a layout that holds at 640x500,
a checkpoint dialog that keeps what was typed, and listener lines that never wrap mid-phrase. All offscreen, no
model: events are fed to the presenter as the engine would send them."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QAbstractButton, QToolButton

from core.engine.events import BargeIn, EngineState, ReplyEnded, ReplyText, StateChanged, UserTextSubmitted
from core.listeners.events import EmotionLabel, ListenerStatus, TurnEmotion
from core.lm.events import StopReason, TextDelta


def _ended(turn_id: int, text: str, heard: str, played_s: float) -> ReplyEnded:
    return ReplyEnded(turn_id, StopReason.CANCELLED, text, heard, True, played_s, played_s, 0)


# 7 -----------------------------------------------------------------------------------------------------------------
def test_interrupted_note_is_cleaned_like_the_bubble_body(make_window):
    win = make_window()
    p = win.presenter
    p.handle(UserTextSubmitted(1, "hello"))
    p.handle(ReplyText(1, TextDelta("Hel\ufffdlo\x07 there", (1,))))
    p.handle(_ended(1, "Hel\ufffdlo\x07 there and more", "Hel\ufffdlo\x07", 0.8))
    bubble = win.view.find("assistant", 1)
    assert bubble.plain_text == "Hello there"
    assert bubble.note.text() == "interrupted — heard: “Hello”"
    p.handle(UserTextSubmitted(2, "again"))
    p.handle(ReplyText(2, TextDelta("\ufffd\ufffd\x01", (2,))))
    p.handle(_ended(2, "\ufffd\ufffd\x01", "\ufffd\ufffd", 0.4))
    assert win.view.find("assistant", 2).note.text() == "interrupted — heard: “(nothing readable)”"


# 11 ----------------------------------------------------------------------------------------------------------------
def test_stop_while_thinking_leaves_no_empty_bubble_and_no_emotion_chip(qtbot, make_window):
    win = make_window()
    p = win.presenter
    p.handle(UserTextSubmitted(1, "tell me a story"))
    p.handle(StateChanged(EngineState.LISTENING, EngineState.THINKING, "turn_captured"))
    p.handle(ReplyText(1, TextDelta("\x03\ufffd", (5,))))  # a demo's first unreadable token, nothing played
    p.handle(BargeIn(1, 0.0, None))  # Esc
    p.handle(_ended(1, "\x03\ufffd", "", 0.0))
    p.handle(TurnEmotion(1, EmotionLabel("assistant", "neutral", 0.6), is_final=True))  # the listener's late label
    qtbot.wait(10)  # deleteLater
    assert win.view.find("assistant", 1) is None
    assert all(b.role == "user" for b in win.view.bubbles())
    assert win.view.find("user", 1).note.text() == "typed · reply stopped"
    # the record is kept (export, journal); only the empty bubble is gone
    assert win.conversation_log.find("assistant", 1).interrupted
    # a stop before any sound, but after readable text: the text stays, said to be stopped, not "heard"
    p.handle(UserTextSubmitted(2, "again"))
    p.handle(ReplyText(2, TextDelta("Once upon", (6,))))
    p.handle(BargeIn(2, 0.0, None))
    p.handle(_ended(2, "Once upon", "", 0.0))
    assert win.view.find("assistant", 2).note.text() == "stopped before it spoke"


# 8 -----------------------------------------------------------------------------------------------------------------
def _clipped(win) -> list[str]:
    """Every visible button or radio whose label does not fit, and a text box whose hint does not."""
    bad = []
    for b in win.findChildren(QAbstractButton):
        if not b.isVisible() or not b.text() or isinstance(b, QToolButton):
            continue
        text_px = b.fontMetrics().horizontalAdvance(b.text().replace("&", ""))
        if b.width() < b.sizeHint().width() or text_px > b.contentsRect().width():
            bad.append(f"{b.text()!r}: {b.width()} px of {b.sizeHint().width()}")
    entry = win.controls.entry
    if entry.fontMetrics().horizontalAdvance(entry.placeholderText()) > entry.text_width():
        bad.append(f"placeholder {entry.placeholderText()!r}")
    return bad


def test_at_640x500_no_label_is_clipped_and_the_window_goes_no_smaller(qtbot, make_window):
    from ui.main_window import MIN_SIZE

    win = make_window()
    win.resize(640, 500)
    qtbot.waitUntil(lambda: win.width() == 640 and win.controls.narrow, timeout=2000)
    qtbot.wait(20)
    assert _clipped(win) == []  # the welcome guide: it scrolls instead of squeezing its buttons
    win.pages.setCurrentWidget(win.view)
    win.controls.set_ready(True)
    for i in range(1, 4):
        win.presenter.handle(UserTextSubmitted(i, f"question number {i}, asked at some length"))
        win.presenter.handle(ReplyText(i, TextDelta("An answer that is long enough to wrap in a bubble. " * 2, (i,))))
    qtbot.wait(20)
    assert _clipped(win) == []
    entry, send = win.controls.entry, win.controls.send
    assert entry.placeholderText() == "Type a message instead of speaking, then press Enter"
    assert entry.geometry().top() > win.controls.stop.geometry().bottom()  # the text box has a row of its own
    win.resize(1200, 700)
    qtbot.waitUntil(lambda: entry.geometry().top() < win.controls.stop.geometry().bottom(), timeout=2000)
    assert not win.controls.narrow and _clipped(win) == []
    win.resize(300, 200)  # the minimum holds
    qtbot.wait(20)
    assert (win.width(), win.height()) == MIN_SIZE == (640, 500)
    entry.resize(150, entry.height())  # a box too small for the sentence says less, never "Type a mes…"
    assert entry.placeholderText() in ("Type a message, then press Enter", "Type a message")
    assert send.isVisible()


# 14 ----------------------------------------------------------------------------------------------------------------
def _label_lines(label) -> list[str]:
    """The lines a word-wrapped rich-text QLabel shows at its width (non-breaking spaces as spaces)."""
    doc = QTextDocument()
    doc.setDefaultFont(label.font())
    doc.setDocumentMargin(0)
    doc.setHtml(label.text())
    doc.setTextWidth(label.contentsRect().width())
    doc.size()  # lays the text out
    lines, block = [], doc.begin()
    while block.isValid():
        layout = block.layout()
        for i in range(layout.lineCount()):
            line = layout.lineAt(i)
            lines.append(block.text()[line.textStart():line.textStart() + line.textLength()].replace("\xa0", " "))
        block = block.next()
    return lines


def test_listener_header_wraps_between_listeners_never_inside_a_phrase(qtbot, make_window):
    win = make_window()
    win.presenter.downloadable = lambda _name: True
    offline = "We couldn't connect to 'https://huggingface.co' to load the files"
    win.presenter.set_listener_statuses({n: ListenerStatus(n, False, offline) for n in
                                         ("asr", "user_emotion", "assistant_emotion")})
    win.resize(640, 500)
    qtbot.waitUntil(lambda: win.width() == 640, timeout=2000)
    qtbot.wait(20)
    lines = _label_lines(win.strip.listeners)
    assert len(lines) >= 2  # it does wrap at 640 px …
    for phrase in ("Transcript: off — model not downloaded Download",
                   "Your emotion: off — model not downloaded Download",
                   "Reply emotion: off — model not downloaded Download"):
        assert any(phrase in line for line in lines), (phrase, lines)  # … but only between listeners


# 9 -----------------------------------------------------------------------------------------------------------------
def test_open_checkpoint_with_a_blank_decoder_stays_open_and_keeps_the_typed_model(qtbot, make_window, tmp_path):
    from app.hub import default_targets
    from ui.dialogs import OpenCheckpointDialog

    win = make_window()
    model = tmp_path / "my model"
    model.mkdir()
    dlg = OpenCheckpointDialog("", "", win)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.model.edit.setText(str(model))
    dlg.accept()  # Open with the decoder left blank (and nothing downloaded)
    assert dlg.isVisible() and dlg.result() != dlg.DialogCode.Accepted
    assert dlg.model.edit.text() == str(model)  # what was typed is still there
    assert dlg.decoder.error.isVisible() and "speech decoder folder" in dlg.decoder.error.text()
    assert not dlg.model.error.isVisible() and dlg.decoder.edit.property("invalid") is True
    assert dlg.decoder.edit.hasFocus() or not dlg.isActiveWindow()
    dlg.decoder.edit.setText(str(tmp_path / "nowhere"))
    dlg.accept()
    assert dlg.isVisible() and "No folder" in dlg.decoder.error.text()

    # a blank decoder field means the downloaded decoder when there is one
    downloaded = default_targets(win.data_root)[1].local_dir
    downloaded.mkdir(parents=True)
    loads = []
    win.load = loads.append  # the window's load itself is tested elsewhere

    def fill_and_open() -> None:
        box = win.checkpoint_dialog
        box.model.edit.setText(str(model))
        box.decoder.edit.setText("")
        box.accept()

    QTimer.singleShot(0, fill_and_open)
    win.open_checkpoint_dialog()
    assert [(r.checkpoint, r.decoder) for r in loads] == [(str(model), str(downloaded))]
    # the next time (say the load failed) the dialog opens with those folders, not the old settings
    QTimer.singleShot(0, lambda: win.checkpoint_dialog.reject())
    win.open_checkpoint_dialog()
    assert win.checkpoint_dialog.model.edit.text() == str(model)


# 4 -----------------------------------------------------------------------------------------------------------------
PULSE_SYSTEM = [  # what PortAudio lists on a PulseAudio laptop (ALSA host API)
    {"name": "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "max_input_channels": 2, "max_output_channels": 2,
     "default_samplerate": 44100.0},
    {"name": "HDA Intel PCH: HDMI 0 (hw:0,3)", "max_input_channels": 0, "max_output_channels": 8,
     "default_samplerate": 44100.0},
    {"name": "", "max_input_channels": 1, "max_output_channels": 1, "default_samplerate": 44100.0},
    {"name": "pulse", "max_input_channels": 32, "max_output_channels": 32, "default_samplerate": 44100.0},
    {"name": "default", "max_input_channels": 32, "max_output_channels": 32, "default_samplerate": 44100.0},
]


class _Backend:
    @staticmethod
    def query_devices():
        return PULSE_SYSTEM


def test_settings_fit_a_768_px_screen_with_help_unclipped_and_real_device_names(qtbot, make_window):
    from PySide6.QtCore import QPoint, QRect

    from ui.settings_audio import AUTOMATIC, audio_devices
    from ui.settings_dialog import SettingsDialog

    win = make_window()
    dlg = SettingsDialog(win.settings, audio_devices(_Backend()), win)
    qtbot.addWidget(dlg)
    laptop = QRect(0, 0, 1366, 768 - 32)  # a 1366x768 screen less a panel
    dlg.fit_to_screen(laptop)
    dlg.show()
    qtbot.waitExposed(dlg)
    assert dlg.height() <= laptop.height() - 48 and dlg.width() <= laptop.width()
    for button in (dlg.save_button, dlg.restore_button):  # Save and Cancel inside the dialog, not below it
        assert dlg.rect().contains(QRect(button.mapTo(dlg, QPoint(0, 0)), button.size()))
    for i in range(dlg.tabs.count()):  # no help text clipped on any tab (Turn-taking is the longest)
        dlg.tabs.setCurrentIndex(i)
        qtbot.wait(10)
        for label in dlg.help_labels.values():
            if label.isVisible():
                assert label.height() >= label.heightForWidth(label.width()), label.text()
    assert dlg.pages["Turn-taking"].verticalScrollBar().maximum() > 0  # the long tab scrolls instead
    mics = [dlg.input_device.itemText(i) for i in range(dlg.input_device.count())]
    speakers = [dlg.output_device.itemText(i) for i in range(dlg.output_device.count())]
    assert mics == [AUTOMATIC, "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "System default (PulseAudio)",
                    "System default (ALSA)"]
    assert "HDA Intel PCH: HDMI 0 (hw:0,3)" in speakers and all(t.strip() for t in mics + speakers)
    assert dlg.tabs.tabText(0) == "Audio" and dlg.duplex.parentWidget() is not None
    assert dlg.pages["Audio"].isAncestorOf(dlg.duplex) and dlg.pages["Audio"].isAncestorOf(dlg.barge_in)
    dlg.input_device.setCurrentIndex(mics.index("System default (PulseAudio)"))
    dlg.barge_in.setValue(256)
    dlg.accept()
    assert (dlg.result.input_device, dlg.result.output_device, dlg.result.barge_in_ms) == ("pulse", None, 256)
    # a saved device that is not plugged in now stays, said to be missing
    again = SettingsDialog(dlg.result.__class__(input_device="USB headset"), audio_devices(_Backend()), win)
    qtbot.addWidget(again)
    assert again.input_device.currentText() == "USB headset (not connected now)"
    again.accept()
    assert again.result.input_device == "USB headset"


# 5 -----------------------------------------------------------------------------------------------------------------
def test_a_refused_setting_speaks_the_dialog_labels_and_marks_the_fields(qtbot, make_window):
    from ui.settings_dialog import SettingsDialog

    win = make_window()
    dlg = SettingsDialog(win.settings, [], win)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    dlg.tabs.setCurrentIndex(0)
    dlg.start_threshold.setValue(0.5)
    dlg.stop_threshold.setValue(0.9)
    dlg.accept()
    assert dlg.isVisible() and dlg.result is None
    assert dlg.error.text() == "Not saved: 'Speech end sensitivity' must be at most 'Speech sensitivity' (0.9 > 0.5)"
    assert "stop_threshold" not in dlg.error.text()
    assert dlg.stop_threshold.property("invalid") is True and dlg.start_threshold.property("invalid") is True
    assert not dlg.end_silence.property("invalid")
    assert dlg.tabs.currentWidget() is dlg.pages["Turn-taking"]  # the refused field is shown …
    assert dlg.focusWidget() in (dlg.stop_threshold, dlg.stop_threshold.lineEdit())  # … and focused
    dlg.stop_threshold.setValue(0.3)  # changing it clears its mark
    assert not dlg.stop_threshold.property("invalid")
    dlg.accept()
    assert dlg.result is not None and dlg.result.vad_stop_threshold == 0.3

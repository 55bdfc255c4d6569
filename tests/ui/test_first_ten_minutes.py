"""One test per finding of issue 20 ("everything a new user meets in the first ten minutes"), offscreen.
The findings whose real event path matters (key focus, shortcuts, held keys) are also driven through Xvfb +
xdotool in tests/ui/test_xvfb_keys.py."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QPushButton

from app.settings import AppSettings
from core.engine.events import (
    DuplexResolved,
    EngineError,
    EngineState,
    ErrorKind,
    ReplyEnded,
    StateChanged,
    UserTurnCaptured,
)
from core.listeners.events import ListenerStatus, TurnEmotion
from core.lm.events import EmotionLabel
from tests.ui.helpers import (
    TEST_SETTINGS,
    WAIT_MS,
    load_into,
)

REPO = Path(__file__).resolve().parents[2]
OFFLINE_REASON = ("unreadable config: OSError: We couldn't connect to 'https://huggingface.co' to load the files, "
                  "and couldn't find them in the cached files.")


def _color_at_rest(widget) -> tuple[int, int, int]:
    img = widget.grab().toImage()
    c = img.pixelColor(img.width() - 12, img.height() // 2)
    return c.red(), c.green(), c.blue()


# 1 -----------------------------------------------------------------------------------------------------------------
def test_first_run_text_box_looks_off_stop_is_quiet_and_no_button_takes_keys(qtbot, make_window):
    win = make_window()
    entry, stop = win.controls.entry, win.controls.stop
    assert not entry.isEnabled() and "Load a model first" in entry.placeholderText()
    assert _color_at_rest(entry) != (255, 255, 255)  # grey, not the white of an enabled box
    assert not stop.isEnabled()
    win.activateWindow()
    focus = win.focusWidget()
    assert focus is win.welcome, f"{focus} has the focus; a space would press it"
    qtbot.keyClick(win, Qt.Key.Key_Space)
    qtbot.keyClick(win, Qt.Key.Key_Return)
    assert win.actions_.downloader is None


# 2 -----------------------------------------------------------------------------------------------------------------
def test_offline_download_says_no_internet_and_cancel_is_immediate(qtbot, make_window, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")
    win = make_window()
    t0 = time.monotonic()
    win.actions_.start_download()
    qtbot.waitUntil(lambda: win.last_error_box is not None, timeout=WAIT_MS)
    assert win.last_error_box.text().startswith("No internet connection") and time.monotonic() - t0 < 6.0
    win.last_error_box.close()
    win.last_error_box = None
    # cancel while the worker is still busy: the dialog goes at once
    win.actions_.download_fns = {"list_files": lambda _repo: time.sleep(3) or [("a", 1)]}
    dl = win.actions_.start_download()
    dialog = win.actions_.download_dialog
    t0 = time.monotonic()
    dialog.cancel_button.click()
    assert not dialog.isVisible() and time.monotonic() - t0 < 0.3
    assert win.statusBar().currentMessage() == "Download cancelled."
    with qtbot.waitSignal(dl.cancelled, timeout=WAIT_MS):
        pass
    qtbot.wait(100)
    assert win.last_error_box is None  # a cancelled download reports nothing more


# 3 -----------------------------------------------------------------------------------------------------------------
def test_listener_lines_are_short_human_and_offer_the_download(qtbot, make_window):
    from ui.messages import listener_line

    win = make_window(settings=AppSettings())  # the default hub listeners, not downloaded
    statuses = {n: ListenerStatus(n, False, OFFLINE_REASON, checkpoint=c) for n, c in
                (("asr", "openai/whisper-base.en"), ("user_emotion", "superb/wav2vec2-base-superb-er"),
                 ("assistant_emotion", "j-hartmann/emotion-english-distilroberta-base"))}
    win.presenter.set_listener_statuses(statuses)
    lines = win.strip.listeners.toolTip().splitlines()
    assert lines[0] == "Transcript: off — model not downloaded [Download]"
    assert all("OSError" not in line and len(line) < 60 for line in lines)
    win.resize(800, 600)
    qtbot.wait(50)
    assert win.strip.listeners.geometry().right() <= win.width()  # wraps, never cut at the window edge
    assert win.strip.listeners.heightForWidth(win.width()) > 0
    with qtbot.waitSignal(win.strip.download_requested) as asked:
        win.strip.listeners.linkActivated.emit("download:asr")
    assert asked.args == ["asr"]
    assert listener_line(ListenerStatus("asr", True, "ready", checkpoint="/d/demo/listeners/asr"), False)[0] == \
        "Transcript: on (random demo)"


@pytest.mark.slow
def test_demo_shows_emotions_from_random_listeners_and_short_replies(qtbot, make_window):
    win = make_window(settings=AppSettings(temperature=1.0))
    with qtbot.waitSignal(win.model_loaded, timeout=WAIT_MS):
        win.load_demo()
    assert win.demo and win.session.settings.asr_checkpoint.endswith("asr")
    assert win.store.load().asr_checkpoint == AppSettings().asr_checkpoint  # the demo's listeners are not saved
    qtbot.waitUntil(lambda: "Reply emotion: on (random demo)" in win.strip.listeners.toolTip(),
                    timeout=WAIT_MS)
    with qtbot.waitSignal(win.presenter.reply_ended, timeout=WAIT_MS):
        win.send_text("Hello there")
    bubble = win.view.find("assistant", 1)
    qtbot.waitUntil(lambda: bubble.emotion.isVisible() and "·" in bubble.emotion.text(), timeout=WAIT_MS)
    reply = win.conversation_log.find("assistant", 1)
    assert 0 < reply.audio_s <= 3.5, reply.audio_s  # capped at a few seconds


# 4 -----------------------------------------------------------------------------------------------------------------
def test_verbose_flag_anywhere_and_converse_demo(monkeypatch, tmp_path):
    from app.cli import build_parser, with_default_command
    from app.commands.converse import build_config
    from main import GUI_COMMAND_MODULE

    parser = build_parser((GUI_COMMAND_MODULE,))
    args = parser.parse_args(with_default_command(["--demo", "-v"], parser))
    assert (args.command, args.demo, args.verbose) == ("gui", True, 1)
    args = parser.parse_args(with_default_command(["converse", "--demo", "-vv"], parser))
    assert (args.command, args.demo, args.verbose) == ("converse", True, 2)
    monkeypatch.setenv("OPENS2S_COMPANION_DATA_DIR", str(tmp_path))
    config = build_config(args)
    assert (Path(config.model.checkpoint) / "config.json").is_file()
    assert (Path(config.model.decoder) / "flow.pt").is_file()
    assert config.sampling.max_units == 40
    # no model: the one-line error names --demo (in-process: `main.py converse --demo` runs as a subprocess in
    # tests/app/test_terminal_noise.py, and run_cli turns a UserError into this line and exit code 2)
    from models.errors import UserError

    with pytest.raises(UserError, match="--demo"):
        build_config(parser.parse_args(with_default_command(["converse"], parser)))


# 5 -----------------------------------------------------------------------------------------------------------------
def test_shortcuts_reach_the_window_while_the_text_box_has_focus(qtbot, make_window, tiny_models):
    win = make_window()
    load_into(qtbot, win, tiny_models)
    entry = win.controls.entry
    entry.setFocus()
    for key in ("export", "new", "emotion", "quit", "settings", "open", "stop", "shortcuts"):
        seq = win.actions_.by_key[key].shortcut()
        combo = seq[0]
        ev = QKeyEvent(QEvent.Type.ShortcutOverride, combo.key(), combo.keyboardModifiers())
        entry.event(ev)
        assert not ev.isAccepted(), f"the text box keeps {seq.toString()} for itself"
    ev = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_A, Qt.KeyboardModifier.NoModifier, "a")
    entry.event(ev)
    assert ev.isAccepted()  # ordinary typing stays in the box
    rows = dict(win.actions_.shortcut_rows())
    assert {"Ctrl+E", "Ctrl+N", "Ctrl+M", "Esc", "F1", "F2 (hold)"} <= set(rows)
    dlg = win.actions_.show_shortcuts()
    assert dlg.isVisible() and len(dlg.findChildren(QLabel)) >= 2 * len(rows)
    dlg.close()


# 6 -----------------------------------------------------------------------------------------------------------------
def test_export_picker_status_after_failed_load_no_flags_and_quiet_mic_warning(
        qtbot, make_window, tiny_models, monkeypatch, tmp_path):
    from app.window.model_loader import LoadRequest

    win = make_window()
    asked = {}

    def fake_exec(dlg):
        asked["dir"], asked["name"] = dlg.directory().absolutePath(), dlg.selectedFiles()[0]
        asked["accept"] = dlg.labelText(QFileDialog.DialogLabel.Accept)
        (tmp_path / "exports").mkdir(exist_ok=True)
        dlg.setDirectory(str(tmp_path / "exports"))
        dlg.selectFile("my export")  # a new folder's name, as a user types it
        return 1

    monkeypatch.setattr(QFileDialog, "exec", fake_exec)
    win.conversation_log.get_or_add("user", 1).text = "something to export"  # an empty one is refused
    win.export_dialog()
    assert not asked["dir"].startswith(str(REPO)) and asked["dir"].startswith(str(Path.home()))
    assert Path(asked["name"]).name.startswith("conversation ") and asked["accept"] == "Export"
    assert (tmp_path / "exports" / "my export" / "conversation.json").is_file()  # made, need not exist
    with qtbot.waitSignal(win.load_failed, timeout=WAIT_MS):
        win.load(LoadRequest(str(tmp_path / "missing"), str(tmp_path / "missing"), "x"))
    assert "loading" not in win.statusBar().currentMessage().lower()
    win.last_error_box.close()
    load_into(qtbot, win, tiny_models)
    win.presenter.handle(EngineError(ErrorKind.INPUT_DEVICE, "No default input device is available (x); connect one "
                                     "or pick another with --input-device (see `main.py devices`)."))
    shown = win.statusBar().currentMessage()
    assert "--" not in shown and "Settings → Audio" in shown
    silence = EngineError(ErrorKind.INPUT_SIGNAL, "The microphone has delivered pure silence for 5 s: check that "
                                                  "it is not muted and that the right --input-device is selected.")
    win.statusBar().clearMessage()
    win.presenter.handle(silence)
    assert "silent" in win.statusBar().currentMessage() and "--" not in win.statusBar().currentMessage()
    win.statusBar().clearMessage()
    win.presenter.handle(silence)
    assert win.statusBar().currentMessage() == ""  # not again within a minute
    win._warned_at.clear()
    win.strip.set_state("speaking")
    win.presenter.handle(silence)
    assert win.statusBar().currentMessage() == ""  # never while the app speaks


# 7 -----------------------------------------------------------------------------------------------------------------
def test_half_duplex_says_the_mic_is_off_while_speaking(qtbot, make_window):
    win = make_window(dataclasses.replace(TEST_SETTINGS, duplex="half"))
    speaking = StateChanged(EngineState.LISTENING, EngineState.SPEAKING, "test")
    win.presenter.handle(speaking)
    assert win.strip.mic_note.text() == "Mic off while I speak" and win.strip.mic_note.isVisible()
    assert win.controls.stop.isEnabled() is False  # no model: nothing to stop
    win.presenter.handle(StateChanged(EngineState.SPEAKING, EngineState.LISTENING, "test"))
    assert win.strip.mic_note.text() == ""
    win.update_settings(dataclasses.replace(win.settings, duplex="headphones"))
    win.presenter.handle(speaking)
    assert win.strip.mic_note.text() == ""  # full duplex: the mic stays on
    win.update_settings(dataclasses.replace(win.settings, duplex="auto"))
    win.presenter.handle(speaking)
    assert win.strip.mic_note.text() == ""  # auto: full duplex until the engine says otherwise
    win.session.event.emit(DuplexResolved("half", "echo cancellation is unavailable (no module)"))
    win.presenter.handle(speaking)
    assert win.strip.mic_note.text() == "Mic off while I speak"  # what the engine resolved
    assert "Half-duplex" in win.statusBar().currentMessage() and "unavailable" in win.statusBar().currentMessage()
    win.update_settings(dataclasses.replace(win.settings, duplex="speakers"))  # a new setting: not resolved yet
    win.presenter.handle(speaking)
    assert win.strip.mic_note.text() == ""


def test_the_guide_offers_three_duplex_modes_preselected_from_the_output_device(qtbot, make_window, tmp_path):
    from ui.dialogs import GUIDE_DUPLEX, guide_duplex

    win = make_window()
    radios = win.welcome.duplex_buttons
    assert [r.text() for r in radios.values()] == ["Speakers (echo cancellation)", "Headphones", "Half-duplex"]
    assert radios["speakers"].isChecked()  # the fake output device ("fake") may be speakers
    assert all(r.focusPolicy() == Qt.FocusPolicy.TabFocus and r.toolTip() for r in radios.values())
    radios["half"].click()
    assert win.settings.duplex == "half"
    assert json.loads((tmp_path / "config" / "settings.json").read_text())["duplex"] == "half"  # saved
    assert set(GUIDE_DUPLEX) == {"speakers", "headphones", "half"}
    assert guide_duplex("auto", "Headphones (Realtek Audio)", None) == "headphones"
    assert guide_duplex("auto", None, None) == "speakers"  # unknown: the echo canceller
    assert guide_duplex("half", "AirPods Pro", None) == "half"  # a chosen mode stays
    again = make_window(dataclasses.replace(TEST_SETTINGS, output_device="USB Headset"), config_dir=tmp_path / "c2")
    assert again.welcome.duplex_buttons["headphones"].isChecked() and again.settings.duplex == "auto"


# 8 -----------------------------------------------------------------------------------------------------------------
def test_replay_becomes_stop_interrupted_emotion_settles_note_clear_of_button_and_one_ptt_message(
        qtbot, make_window, tiny_models):
    win = make_window()
    load_into(qtbot, win, tiny_models)
    clip = np.sin(np.linspace(0, 2000, 16000 * 3)).astype(np.float32) * 0.1
    win.presenter.handle(UserTurnCaptured(7, clip, 16000, 0.0, 3.0, 3.5, "silence"))
    bubble = win.view.find("user", 7)
    bubble.replay.click()
    assert bubble.replay.text() == "Stop" and win.replay.playing
    bubble.replay.click()
    qtbot.waitUntil(lambda: bubble.replay.text() == "Replay", timeout=WAIT_MS)
    assert not win.replay.playing
    # interrupted reply: the provisional chip settles
    win.presenter.handle(TurnEmotion(8, EmotionLabel("assistant", "happy", 0.46), is_final=False))
    reply = win.view.find("assistant", 8)
    assert reply.emotion.text().endswith("…")
    heard = "a long stretch of what was heard before the interruption " * 3
    win.presenter.handle(_reply_ended(8, heard))
    assert not reply.emotion.text().endswith("…") and "46%" in reply.emotion.text()
    assert win.conversation_log.find("assistant", 8).emotions == [("happy", 0.46)]
    reply.set_replayable(True)
    qtbot.wait(20)
    assert not reply.note.geometry().intersects(reply.replay.geometry())
    assert reply.note.y() > reply.title.y()
    # push-to-talk key: X11 repeat delivers release+press pairs without the repeat flag
    messages = []
    win.statusBar().messageChanged.connect(lambda m: m and messages.append(m))
    released = []
    win.session.talk_released = lambda: released.append(1)
    for _ in range(10):
        qtbot.keyPress(win, Qt.Key.Key_F2)
        qtbot.wait(30)
        qtbot.keyRelease(win, Qt.Key.Key_F2)
        qtbot.wait(5)
    qtbot.waitUntil(lambda: bool(released), timeout=2000)
    qtbot.wait(300)
    assert released == [1]


def _reply_ended(turn_id: int, heard: str) -> ReplyEnded:
    from core.lm.events import StopReason

    return ReplyEnded(turn_id, StopReason.CANCELLED, heard + " and more", heard, True, 1.0, 1.5, 0)


# 9 -----------------------------------------------------------------------------------------------------------------
def test_settings_in_groups_with_help_and_defaults_and_readable_paths(qtbot, make_window):
    from ui.dialogs import OpenCheckpointDialog
    from ui.settings_dialog import GROUPS, ROWS, SettingsDialog

    long_path = "/home/someone/models/listeners/a-rather-long-folder-name/whisper-base.en"
    win = make_window(settings=AppSettings(asr_checkpoint=long_path, temperature=1.3))
    dlg = SettingsDialog(win.settings, ["Built-in mic"], win)
    qtbot.addWidget(dlg)
    assert [dlg.tabs.tabText(i) for i in range(dlg.tabs.count())] == list(GROUPS)
    assert all(len(h.split()) >= 4 and "\n" not in h for _g, _a, _l, h in ROWS)
    assert len(dlg.help_labels) == len(ROWS)
    assert dlg.asr.cursorPosition() == 0 and dlg.asr.toolTip() == long_path  # the start shows; all on hover
    dlg.restore_button.click()
    assert dlg.temperature.value() == AppSettings().temperature
    assert dlg.asr.text() == AppSettings().asr_checkpoint
    dlg.accept()
    assert dlg.result.temperature == AppSettings().temperature
    ocd = OpenCheckpointDialog(long_path, long_path, win)
    qtbot.addWidget(ocd)
    ocd.show()
    qtbot.waitExposed(ocd)
    assert ocd.model.edit.width() >= 400 and ocd.model.edit.cursorPosition() == 0


# 10 ----------------------------------------------------------------------------------------------------------------
def test_hint_mode_toggle_quiet_stop_icons_chip_width_and_header(qtbot, make_window, tiny_models):
    win = make_window()
    load_into(qtbot, win, tiny_models)
    assert win.view.hint.isVisible() and "Say something" in win.view.hint.text()
    assert not win.findChildren(QComboBox, "modeBox") and win.controls.mode.button(1).text() == "Push-to-talk"
    assert not win.controls.stop.isEnabled()  # nothing to stop: not red
    win.presenter.handle(StateChanged(EngineState.LISTENING, EngineState.SPEAKING, "test"))
    assert win.controls.stop.isEnabled()
    win.presenter.handle(StateChanged(EngineState.SPEAKING, EngineState.LISTENING, "test"))
    clip = np.zeros(16000 * 2, np.float32)
    win.presenter.handle(UserTurnCaptured(3, clip, 16000, 0.0, 2.0, 2.5, "silence"))
    b = win.view.find("user", 3)
    qtbot.waitUntil(b.isVisible, timeout=WAIT_MS)
    assert not win.view.hint.isVisible()
    assert b.plain_text == "2.0 s of speech" and b.kind_icon.isVisible() and not b.kind_icon.pixmap().isNull()
    win.presenter.handle(TurnEmotion(3, EmotionLabel("user", "neutral", 0.7)))
    b.set_text("a transcript long enough to make the bubble wide, " * 4)
    qtbot.wait(50)
    assert b.emotion.width() <= b.emotion.sizeHint().width() + 2  # a chip at its own width…
    assert b.emotion.width() < b.width() // 2  # …not a bar across the bubble
    assert b.note.y() > b.title.y()  # "spoken" on its own line, not squeezed beside "You"
    texts = [w.text() for w in win.findChildren(QLabel) + win.findChildren(QPushButton)]
    assert not [t for t in texts if any(ord(ch) >= 0x1F000 for ch in t)], "emoji need a font users may lack"


# 11 ----------------------------------------------------------------------------------------------------------------
ALSA_PROBE = """
import ctypes, sys
if sys.argv[1] == "quiet":
    from app.quiet_audio import silence_alsa
    assert silence_alsa()
lib = ctypes.CDLL("libasound.so.2")
handle = ctypes.c_void_p()
lib.snd_pcm_open(ctypes.byref(handle), b"no_such_pcm_device", 0, 0)
"""


def test_no_alsa_lines_no_futurewarning_reply_says_what_it_wrote_and_no_stray_units(tiny_checkpoint,
                                                                                         tiny_decoder, tmp_path):
    import ctypes.util

    assert ctypes.util.find_library("asound") is not None, "libasound is missing (see .ci/install)"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    loud = subprocess.run([sys.executable, "-c", ALSA_PROBE, "loud"], capture_output=True, text=True, env=env)
    quiet = subprocess.run([sys.executable, "-c", ALSA_PROBE, "quiet"], capture_output=True, text=True, env=env)
    assert "ALSA lib" in loud.stderr and quiet.returncode == 0 and "ALSA lib" not in quiet.stderr
    out = tmp_path / "x.wav"
    res = subprocess.run([sys.executable, str(REPO / "main.py"), "reply", "--checkpoint", str(tiny_checkpoint),
                          "--decoder", str(tiny_decoder), "--text", "Hi", "--out", str(out), "--max-units", "20",
                          "--max-text-tokens", "6"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"wrote {out} (" in res.stderr and "s of speech" in res.stderr
    assert "FutureWarning" not in res.stderr and "ALSA lib" not in res.stderr
    assert not (tmp_path / "units.json").exists()  # only with --units-out

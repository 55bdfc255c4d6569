"""Settings: the emotion toggle persists across runs, invalid values are refused, the file lives in the config dir,
and `main.py` with no sub-command (or only --checkpoint/--decoder) means the GUI."""

from __future__ import annotations

import dataclasses
import json

import pytest
from PySide6.QtCore import Qt

from app.settings import AppSettings, SettingsStore
from core.audio.duplex import DUPLEX_CHOICES, DUPLEX_LABELS
from tests.ui.helpers import TEST_SETTINGS


def test_emotion_toggle_hides_labels_and_persists(qtbot, make_window, tmp_path):
    win = make_window()
    bubble = win.view.bubble("assistant", 1)
    bubble.set_emotion("happy", 0.83, final=True)
    assert not bubble.emotion.isHidden() and "happy · 83%" in bubble.emotion.text()
    win.actions_.show_emotion.trigger()  # Ctrl+M
    assert bubble.emotion.isHidden()
    saved = json.loads((tmp_path / "config" / "settings.json").read_text())
    assert saved["show_emotion"] is False
    win.shutdown()
    again = make_window(config_dir=tmp_path / "config")
    assert not again.settings.show_emotion and not again.actions_.show_emotion.isChecked()
    new_bubble = again.view.bubble("assistant", 7)
    new_bubble.set_emotion("sad", 0.5, final=True)
    assert new_bubble.emotion.isHidden()
    again.actions_.show_emotion.trigger()
    assert not new_bubble.emotion.isHidden()


def test_settings_are_validated_through_the_frozen_configs(tmp_path):
    with pytest.raises(ValueError, match="stop_threshold"):
        AppSettings(vad_start_threshold=0.3, vad_stop_threshold=0.6)
    with pytest.raises(ValueError, match="top_p"):
        AppSettings(top_p=0.0)
    with pytest.raises(ValueError, match="vocoder_backend"):
        AppSettings(vocoder_backend="tpu")
    store = SettingsStore(tmp_path)
    store.path.write_text(json.dumps({"temperature": -1, "duplex": "headphones", "unknown": 3, "show_emotion": False}))
    loaded = store.load()  # the invalid value falls back to its default, the rest is kept
    assert loaded.temperature == AppSettings().temperature and loaded.duplex == "headphones"
    assert not loaded.show_emotion
    s = loaded.with_recent("/m", "/d", "mine").with_recent("/m2", "/d2").with_recent("/m", "/d", "mine")
    assert [r.checkpoint for r in s.recent] == ["/m", "/m2"] and s.checkpoint == "/m"
    store.save(s)
    assert store.load() == s


def test_settings_dialog_refuses_invalid_values(qtbot, make_window):
    from ui.settings_dialog import SettingsDialog

    win = make_window()
    dlg = SettingsDialog(win.settings, ["fake"], win)
    qtbot.addWidget(dlg)
    dlg.start_threshold.setValue(0.3)
    dlg.stop_threshold.setValue(0.6)
    dlg.accept()
    assert dlg.result is None and "'Speech end sensitivity' must be at most" in dlg.error.text()
    dlg.stop_threshold.setValue(0.2)
    dlg.duplex.setCurrentIndex(dlg.duplex.findData("headphones"))
    dlg.prompt.setPlainText("You are kind.")
    dlg.accept()
    assert dlg.result == dataclasses.replace(
        win.settings, vad_start_threshold=0.3, vad_stop_threshold=0.2, duplex="headphones",
        system_prompt="You are kind."
    )


@pytest.mark.parametrize("choice", DUPLEX_CHOICES)
def test_settings_dialog_duplex_combo_round_trips_each_mode(qtbot, make_window, choice):
    from ui.settings_dialog import SettingsDialog

    win = make_window()
    dlg = SettingsDialog(dataclasses.replace(win.settings, duplex=choice), [], win)
    qtbot.addWidget(dlg)
    assert [dlg.duplex.itemText(i) for i in range(dlg.duplex.count())] == [DUPLEX_LABELS[c] for c in DUPLEX_CHOICES]
    assert dlg.duplex.currentData() == choice and dlg.duplex.currentText() == DUPLEX_LABELS[choice]
    assert dlg.duplex.toolTip() and dlg.duplex.itemData(dlg.duplex.currentIndex(), Qt.ItemDataRole.ToolTipRole)
    assert dlg.interruption.isEnabled() is (choice != "half")  # nothing to interrupt in half-duplex
    dlg.accept()
    assert dlg.result.duplex == choice and dlg.result.config().engine.duplex == choice


def test_settings_dialog_sets_how_a_reply_is_interrupted(qtbot, make_window):
    from ui.settings_dialog import SettingsDialog

    win = make_window()
    dlg = SettingsDialog(win.settings, [], win)
    qtbot.addWidget(dlg)
    assert dlg.interruption.currentData() == "backchannel" and dlg.backchannel.isEnabled()
    dlg.backchannel.setValue(800)
    dlg.interruption.setCurrentIndex(dlg.interruption.findData("immediate"))
    assert not dlg.backchannel.isEnabled() and dlg.interruption.currentText() == "Stop at once"
    dlg.accept()
    engine = dlg.result.config().engine
    assert (engine.interruption, engine.backchannel_ms) == ("immediate", 800.0)


def test_settings_dialog_from_the_menu_restarts_the_engine_config(qtbot, make_window, tmp_path):
    from ui.settings_dialog import SettingsDialog

    win = make_window()

    dlg = win.actions_.open_settings()
    assert isinstance(dlg, SettingsDialog) and dlg.isVisible()
    dlg.end_silence.setValue(900)
    dlg.speculate.setValue(0)  # "off"
    dlg.prompt.setPlainText("You are a calm companion.")
    dlg.accept()
    assert win.settings.end_silence_ms == 900
    assert SettingsStore(tmp_path / "config").load().end_silence_ms == 900
    assert win.session.settings.config().engine.vad.end_silence_ms == 900
    assert win.settings.speculate_after_ms is None
    assert win.session.settings.config().engine.vad.speculate_after_ms is None
    win.session.apply_settings(win.settings).result(30)  # wait for the control thread
    assert win.session.conversation.system_prompt == "You are a calm companion."


def test_no_subcommand_means_gui():
    from app.cli import build_parser, with_default_command
    from main import GUI_COMMAND_MODULE

    parser = build_parser((GUI_COMMAND_MODULE,))
    assert with_default_command([], parser) == ["gui"]
    assert with_default_command(["--checkpoint", "m", "--decoder", "d"], parser)[0] == "gui"
    assert with_default_command(["-v", "--demo"], parser) == ["-v", "gui", "--demo"]
    assert with_default_command(["reply", "--text", "x"], parser)[0] == "reply"
    args = parser.parse_args(with_default_command(["--checkpoint", "m", "--decoder", "d"], parser))
    assert (args.command, args.checkpoint, args.decoder) == ("gui", "m", "d")


def test_test_settings_are_valid():
    assert TEST_SETTINGS.config().sampling.max_text_tokens == 24


def test_vocoder_schedule_setting_reaches_the_vocoder_stream(tiny_decoder):
    import torch

    from core.voice.chunk_schedule import ChunkSchedule
    from core.voice.schedule_plan import PlaybackPlan
    from core.voice.vocoder import Vocoder

    with pytest.raises(ValueError, match="vocoder_schedule"):
        AppSettings(vocoder_schedule="turbo")
    dec = Vocoder.load(tiny_decoder)
    for name, expected in (("fast", ChunkSchedule()), ("smooth", ChunkSchedule.smooth())):
        plan = PlaybackPlan.preset(AppSettings(vocoder_schedule=name).vocoder_schedule)
        assert dec.open_stream(plan.schedule, torch.Generator().manual_seed(plan.seed)).schedule == expected

"""The window's fixtures: the tiny model + tiny decoder loaded once, tiny listeners, and a window factory."""

from __future__ import annotations

import pytest

from app.settings import AppSettings, SettingsStore
from app.window.model_loader import LoadRequest
from tests.engine_fakes import FakeAudio
from tests.fast import mark_fast
from tests.ui.helpers import FAST_AUDIO, TEST_SETTINGS


@pytest.fixture(scope="session")
def tiny_decoder_dir(tmp_path_factory):
    from models.tiny_decoder import make_tiny_decoder

    return make_tiny_decoder(tmp_path_factory.mktemp("ui_decoder") / "decoder", seed=0)


@pytest.fixture(scope="session")
def tiny_models(tiny_checkpoint, tiny_decoder_dir):
    """(runner, vocoder, playback plan, LoadRequest) for the tiny checkpoint + tiny decoder, loaded once."""
    from app.window.model_loader import load_models

    req = LoadRequest(str(tiny_checkpoint), str(tiny_decoder_dir), "tiny test model")
    runner, vocoder, playback = load_models(req, TEST_SETTINGS, lambda *_: None)
    return runner, vocoder, playback, req


@pytest.fixture(scope="session")
def tiny_listener_dirs(tmp_path_factory):
    from models.listeners.tiny import write_tiny_listeners

    return write_tiny_listeners(tmp_path_factory.mktemp("ui_listeners"))


@pytest.fixture
def make_window(qtbot, tmp_path):
    """make_window(settings=..., audio=...) -> MainWindow (shut down at teardown)."""
    from app.window.replay import ReplayPlayer
    from app.window.session import Session
    from ui.app_main import load_style
    from ui.main_window import MainWindow

    made = []

    def make(settings: AppSettings = TEST_SETTINGS, audio=None, config_dir=None):
        store = SettingsStore(config_dir or tmp_path / "config")
        if not store.path.exists():
            store.save(settings)
        settings = store.load()
        audio = audio or FakeAudio(speed=FAST_AUDIO)
        session = Session(settings, audio=audio)
        win = MainWindow(session, store, tmp_path / "data", ReplayPlayer(audio))
        win.setStyleSheet(load_style())
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        made.append(win)
        return win

    yield make
    for win in made:
        win.shutdown()


# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_window_helpers.py",
    "test_settings.py",
    "test_history_store.py",
    "test_history_view.py",
    "test_inspector.py",
    "test_polish.py",
    "test_docs_settings_labels.py",
    "test_second_ten_minutes.py::test_speech_heard_while_the_app_talks_is_reported_while_it_talks",
    "test_checkpoints.py::test_fresh_start_guides_the_user",
    "test_first_ten_minutes.py::test_first_run_text_box_looks_off_stop_is_quiet_and_no_button_takes_keys",
    "test_first_ten_minutes.py::test_settings_in_groups_with_help_and_defaults_and_readable_paths",
    "test_conversation.py::test_stop_button_interrupts_a_reply_and_new_conversation_clears_history",
    "test_window_resilience.py::test_a_corrupt_settings_file_is_named_in_the_status_bar",
    "test_first_ten_minutes.py::test_replay_becomes_stop_interrupted_emotion_settles_note_clear_of_button_and_one_ptt_message",
    "test_window_resilience.py::test_push_to_talk_obeys_the_turn_cap",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)

"""The engine's fixtures: `rig`, an engine over the fake sound card, fake runner and fake vocoder."""

from __future__ import annotations

import pytest

from core.engine.engine import Engine
from tests.engine.helpers import config
from tests.engine_fakes import Collector, FakeAudio, FakeConversation, FakeDecoder, FakeRunner
from tests.fast import mark_fast


@pytest.fixture
def rig():
    """rig(audio=, runner=, decoder=, **config) -> (engine, events, audio, runner, conv); stops it."""
    made = []

    def make(audio=None, runner=None, decoder=None, **kw):
        audio = audio or FakeAudio()
        runner = runner or FakeRunner()
        conv = FakeConversation()
        events = Collector()
        eng = Engine(runner, decoder or FakeDecoder(), config=config(**kw), sink=events, audio=audio, conversation=conv)
        made.append(eng)
        return eng, events, audio, runner, conv

    yield make
    for eng in made:
        eng.stop()


# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_worker.py",
    "test_event_types.py",
    "test_recorder.py",
    "test_submit_text.py",
    "test_warmup.py",
    "test_lifecycle.py::test_a_job_is_not_finished_before_it_starts",
    "test_fake_devices.py::test_one_turn_one_full_reply",
    "test_fake_devices.py::test_no_devices_or_refused_rate_raise_device_error",
    "test_control.py::test_a_reply_that_outlives_its_join_keeps_the_model_until_it_returns",
    "test_fake_devices.py::test_barge_in_stops_playback_cancels_and_clips_history",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)

"""One set of defaults (issue 32): `main.py turns`, `converse`, the window and bench/suite.py run the turn stage
(VAD, end of turn, duplex mode, the Smart Turn scorer) from the same `CompanionConfig` through app.assembly.

Each way is run for real up to the point where the turn stage is handed over (the simulation, the `Engine`), with
the model loading stubbed; what arrives there is compared. The Smart Turn scorer is a marker returned by a stubbed
`app.assembly.load_end_of_turn`, so a way that loads its own never gets it."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from types import SimpleNamespace

import numpy as np
import pytest

from app.assembly import EndOfTurn
from app.commands import converse, turns
from app.config import CompanionConfig
from app.settings import SettingsStore
from bench import suite_headline, turn_baselines
from core.engine.config import EngineConfig
from core.turns.config import EndOfTurnConfig, VadConfig
from testing.fake_audio import FakeAudio


class _Handed(Exception):
    """Raised where the turn stage is handed over: the way has been followed far enough."""


@dataclasses.dataclass(frozen=True)
class Stage:
    vad: VadConfig
    end_of_turn: EndOfTurnConfig
    duplex: str
    barge_in_ms: float
    interruption: str
    backchannel_ms: float
    scorer: object

    @classmethod
    def of(cls, config: EngineConfig, scorer: object) -> Stage:
        return cls(config.vad, config.end_of_turn, config.duplex, config.barge_in_ms, config.interruption,
                   config.backchannel_ms, scorer)


@pytest.fixture
def scorers(monkeypatch):
    """app.assembly.load_end_of_turn stubbed: one marker scorer per EndOfTurnConfig, no model loaded."""
    made: dict = {}

    def load(config):
        eot = config.engine.end_of_turn
        return EndOfTurn(made.setdefault(eot, object()), "on — stub")

    monkeypatch.setattr("app.assembly.load_end_of_turn", load)
    return made


def _parse(module, *argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    module.register(p.add_subparsers())
    return p.parse_args(list(argv))


def via_turns(monkeypatch, *flags: str) -> Stage:
    """`main.py turns`: what reaches the simulation."""
    got = {}

    def simulate(samples, config, vad, scorer=None, *args, **kwargs):
        got["stage"] = Stage.of(config, scorer)
        return []

    monkeypatch.setattr("core.audio.clips.load_audio_file", lambda path: np.zeros(16000, np.float32))
    monkeypatch.setattr("core.turns.vad.SileroVad", lambda: None)
    monkeypatch.setattr("core.turns.offline.simulate_turns", simulate)
    monkeypatch.setattr("app.commands.turns.transcript_signal", lambda *a: (None, "off — test"))
    args = _parse(turns, "turns", "--audio", "speech.wav", "--json", *flags)
    assert args.func(args) == 0
    return got["stage"]


def _catch_engine(monkeypatch) -> dict:
    got = {}

    def engine(runner, vocoder, playback=None, config=None, **kwargs):
        got["stage"] = Stage.of(config, kwargs.get("end_of_turn"))
        raise _Handed

    monkeypatch.setattr("core.engine.engine.Engine", engine)
    return got


def via_converse(monkeypatch, *flags: str) -> Stage:
    """`converse`: build() with the loading stubbed, up to the Engine it makes."""
    from core.lm.runner import OpenS2SRunner
    from core.voice.vocoder import Vocoder

    monkeypatch.setattr("app.hub.resolve_source", lambda source, *a, **k: source)
    monkeypatch.setattr(OpenS2SRunner, "load", staticmethod(lambda *a, **k: "runner"))
    monkeypatch.setattr(Vocoder, "load", staticmethod(lambda *a, **k: "vocoder"))
    monkeypatch.setattr("app.assembly.playback_plan", lambda *a: SimpleNamespace(first_audio_s=None))
    monkeypatch.setattr("app.assembly.check_memory_for", lambda folders: None)
    got = _catch_engine(monkeypatch)
    args = _parse(converse, "converse", "--checkpoint", "ckpt", "--decoder", "dec", "--no-warm-up", *flags)
    with pytest.raises(_Handed):
        args.func(args)
    return got["stage"]


def via_window(monkeypatch, tmp_path) -> Stage:
    """The window: its settings (no file yet) and its session's engine, as after a model load."""
    from app.window.session import Session

    got = _catch_engine(monkeypatch)
    session = Session(SettingsStore(tmp_path).load(), audio=FakeAudio())
    try:
        with pytest.raises(_Handed):
            session._make_engine("runner", "vocoder", "playback")
    finally:
        session.shutdown()
    return got["stage"]


def via_suite(monkeypatch) -> dict[str, Stage]:
    """bench/suite.py's headline: what each of its spoken runs is given, by operating point."""
    calls = []

    def spoken(runner, decoder, clips, sampling, turns, config, end_of_turn=None, playback=None):
        calls.append(Stage.of(config, end_of_turn))
        row = {"speech_end_to_first_sample_s": 0.5, "dispatch_to_first_sample_s": 0.3, "head_start_s": 0.1,
               "decision_s": 0.2, "after_decision_s": 0.3, "replies_started": 1, "early_cuts": 0}
        return [row] * turns

    monkeypatch.setattr("bench.suite_engine.engine_vad_turns", spoken)
    monkeypatch.setattr("bench.suite_engine.espeak_speech_16k", lambda text: np.zeros(1600, np.float32))
    monkeypatch.setattr("app.assembly.playback_plan",
                        lambda *a: SimpleNamespace(schedule=SimpleNamespace(chunk_units=(10,)), prebuffer_ms=120.0))
    h = suite_headline.headline(None, None, None, turns=2, false_cuts=False)
    assert h["order"] == ["before", "after", "after", "before"] == [p for p, _ in suite_headline.blocks(2)]
    by_point = dict(zip(h["order"], calls, strict=True))
    assert calls[1] == calls[2] and calls[0] == calls[3]  # each point runs the same stage in both of its blocks
    duplex = "half" if CompanionConfig().engine.duplex == "half" else "full"
    assert h["duplex"] == h["before"]["duplex"] == duplex  # the suite states the mode it measured: the app's
    return by_point


def _set_app_default_engine(monkeypatch, engine: EngineConfig) -> None:
    """From now on `CompanionConfig()` has `engine` as its default, for every caller however it imported the
    class: a stand-in for a default changed in the source. A way that builds its own EngineConfig misses it."""
    init = CompanionConfig.__init__
    names = list(inspect.signature(init).parameters)[1:]
    defaults = list(init.__defaults__)
    defaults[names.index("engine") - (len(names) - len(defaults))] = engine
    monkeypatch.setattr(init, "__defaults__", tuple(defaults))


def test_turns_converse_window_and_suite_run_the_same_turn_stage(monkeypatch, tmp_path, scorers):
    app = CompanionConfig().engine
    expected = Stage.of(app, scorers.setdefault(app.end_of_turn, object()))
    assert via_turns(monkeypatch) == expected
    assert via_converse(monkeypatch) == expected
    assert via_window(monkeypatch, tmp_path) == expected
    assert via_suite(monkeypatch)["after"] == expected


def test_a_changed_default_reaches_all_four(monkeypatch, tmp_path, scorers):
    # fields the window's settings do not mirror (mirrored ones are the settings file's: see the next test)
    base = EngineConfig()
    changed = dataclasses.replace(
        base,
        vad=dataclasses.replace(base.vad, pre_roll_ms=256.0, min_speech_ms=192.0),
        end_of_turn=dataclasses.replace(base.end_of_turn, first_check_ms=224.0, speculate_at_ms=64.0,
                                        check_every_ms=64.0, text_weight=0.25, rejoin_ms=1500.0))
    assert Stage.of(changed, None) != Stage.of(base, None)
    _set_app_default_engine(monkeypatch, changed)
    assert CompanionConfig().engine == changed
    expected = Stage.of(changed, scorers.setdefault(changed.end_of_turn, object()))
    assert via_turns(monkeypatch) == expected
    assert via_converse(monkeypatch) == expected
    assert via_window(monkeypatch, tmp_path) == expected
    points = via_suite(monkeypatch)
    assert points["after"] == expected
    assert points["before"].end_of_turn == turn_baselines.BEFORE_ISSUE_32  # "before" does not move with defaults
    assert points["before"].vad == turn_baselines.BEFORE_ISSUE_32_VAD


def test_the_window_settings_mirror_the_app_defaults():
    """Without a settings file the window's turn stage is the app's; the mirrored fields' defaults are read from
    the config fields when app.settings is imported."""
    from app.settings import AppSettings

    assert Stage.of(AppSettings().config().engine, None) == Stage.of(CompanionConfig().engine, None)


def test_turns_takes_converses_turn_taking_flags(monkeypatch, scorers):
    flags = ("--eot-commit-prob", "0.9", "--eot-first-check-ms", "192", "--end-silence-ms", "640",
             "--speculate-after-ms", "off", "--duplex", "speakers", "--interruption", "immediate")
    stage = via_turns(monkeypatch, *flags)
    assert stage == via_converse(monkeypatch, *flags)
    assert (stage.end_of_turn.commit_prob, stage.end_of_turn.first_check_ms) == (0.9, 192.0)
    assert (stage.vad.end_silence_ms, stage.vad.speculate_after_ms, stage.duplex) == (640.0, None, "speakers")
    assert stage.interruption == "immediate"
    assert via_turns(monkeypatch, "--barge-in").duplex == "headphones"  # the old flag, deprecated
    assert via_turns(monkeypatch, "--no-semantic").end_of_turn.semantic is False


def test_before_issue_32_is_the_pre_issue_turn_stage_written_out():
    before = turn_baselines.before(CompanionConfig())
    eot, vad = before.engine.end_of_turn, before.engine.vad
    assert (eot.policy, eot.first_check_ms, eot.speculate_at_ms, eot.check_every_ms, eot.commit_prob, eot.hold_prob,
            eot.max_silence_ms, eot.text_weight, eot.rejoin_ms) == ("mean", 160, 96, 96, 0.8, 0.3, 1500, 0.5, 2000)
    assert (vad.start_threshold, vad.stop_threshold, vad.pre_roll_ms, vad.min_speech_ms, vad.end_silence_ms,
            vad.max_turn_ms, vad.speculate_after_ms) == (0.5, 0.35, 300, 250, 700, 30000, 250)
    after = CompanionConfig()
    assert dataclasses.replace(before, engine=after.engine) == after  # only the turn stage differs
    assert before.engine.duplex == after.engine.duplex  # the same duplex mode as the app's default

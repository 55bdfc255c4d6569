"""What the engine's sink receives is `EngineEvent`, and the engine opens vocoder streams with its PlaybackPlan.

The static check reads the source (an AST walk): every event class (a dataclass of an events module) that the engine
or the stages whose events it passes on (core/turns, core/audio/levels.py) construct is either in the `EngineEvent`
union or one that `engine_event()` turns into an `EngineError`; and every member of the union is constructed."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import numpy as np

from core.audio.levels import MicLevel, SignalWarning
from core.engine.config import EngineConfig
from core.engine.engine import Engine
from core.engine.events import EngineError, EngineEvent, ErrorKind, ReplyEnded, engine_event
from core.turns.config import VadConfig
from core.turns.events import CaptureProblem, SpeechStarted
from core.voice.chunk_schedule import ChunkSchedule
from core.voice.schedule_plan import PlaybackPlan
from tests.engine_fakes import Collector, FakeAudio, FakeConversation, FakeDecoder, FakeRunner

ROOT = Path(__file__).resolve().parents[2]
EVENT_MODULES = ("core/engine/events.py", "core/turns/events.py", "core/audio/levels.py")
EMITTING = ("core/engine", "core/turns", "core/audio/levels.py")
TRANSLATED = {SignalWarning, CaptureProblem}  # engine_event() reports these as EngineError
NOT_EVENTS = {"ReplyTiming"}  # a field of ReplyEnded


def _event_classes() -> set[str]:
    """The dataclasses of the events modules, less configs and NOT_EVENTS."""
    names = set()
    for rel in EVENT_MODULES:
        for node in ast.parse((ROOT / rel).read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and node.decorator_list and not node.name.endswith("Config"):
                names.add(node.name)
    return names - NOT_EVENTS


def _emitted_classes() -> set[str]:
    """Event classes constructed anywhere in EMITTING."""
    known, found = _event_classes(), set()
    files = [p for rel in EMITTING for p in ((ROOT / rel).rglob("*.py") if (ROOT / rel).is_dir() else [ROOT / rel])]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in known:
                found.add(node.func.id)
    return found


def test_every_event_the_engine_emits_is_in_the_engine_event_union():
    union = {cls.__name__ for cls in typing.get_args(EngineEvent)}
    emitted = _emitted_classes()
    translated = {cls.__name__ for cls in TRANSLATED}
    assert len(emitted) >= 12, emitted  # the walk sees the emit calls at all
    assert emitted - translated <= union, f"emitted but not in EngineEvent: {sorted(emitted - translated - union)}"
    assert union <= emitted, f"in EngineEvent but never emitted: {sorted(union - emitted)}"


def test_stage_problem_reports_reach_the_sink_as_engine_errors():
    assert engine_event(SignalWarning("mic muted")) == EngineError(ErrorKind.INPUT_SIGNAL, "mic muted")
    assert engine_event(CaptureProblem("fell behind")) == EngineError(ErrorKind.INTERNAL, "fell behind")
    level, start = MicLevel(-30.0, 0.1, 0.2, False), SpeechStarted(1.0)
    assert engine_event(level) is level and engine_event(start) is start


class _RecordingVocoder(FakeDecoder):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[tuple[ChunkSchedule, int]] = []

    def open_stream(self, schedule, generator):
        self.opened.append((schedule, generator.initial_seed()))
        return super().open_stream(schedule, generator)


def test_replies_use_the_playback_plan_and_the_sink_gets_only_engine_events():
    plan = PlaybackPlan(ChunkSchedule.smooth(), prebuffer_ms=40.0, seed=7)
    vocoder, events = _RecordingVocoder(), Collector()
    eng = Engine(FakeRunner(), vocoder, playback=plan, config=EngineConfig(vad=VadConfig(speculate_after_ms=None)),
                 sink=events, audio=FakeAudio(speed=4.0), conversation=FakeConversation())
    with eng:
        eng.submit_turn(np.full(16000, 0.1, np.float32))
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)
    assert end.error is None
    assert vocoder.opened == [(ChunkSchedule.smooth(), 7)]
    assert events.events and all(isinstance(e, EngineEvent) for e in events.events)

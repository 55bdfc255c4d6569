"""The one assembly point: `build(config)` turns a `CompanionConfig` into a ready `Companion`.

It owns every step between "these are the settings" and "the engine can start": resolving each model source (a
folder, or a hub id downloaded with progress), the memory check, loading the runner and the vocoder, warm-up, the
playback plan (the "auto" schedule is measured here) and the end-of-turn model. `converse`, `reply`, the window,
the benchmarks and the tests all build through it, so they cannot drift apart. The turn stage (VAD, end of turn,
duplex, the Smart Turn scorer) comes from here for all of them: `turn_stage(config)` for `main.py turns` and
bench/suite.py (no companion), `Companion.turn_stage()` for `converse` and the window.

    companion = build(CompanionConfig(model=ModelSource("CASIA-LM/OpenS2S", "THUDM/glm-4-voice-decoder")))
    engine = companion.engine(sink=print)
"""

from __future__ import annotations

import logging
import re
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import CompanionConfig
from models.errors import ResourceError

log = logging.getLogger(__name__)

Report = Callable[[int, str], None]  # (percent, what is happening now)
STEP_SOURCES, STEP_RUNNER, STEP_VOCODER, STEP_WARMUP, STEP_PLAN, STEP_DONE = 2, 10, 60, 80, 90, 100
OUT_OF_MEMORY = ("Not enough memory to load this model; close other programs, or pick a smaller model or "
                 "--weights int8.")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx")


@dataclass
class EndOfTurn:
    """The Smart Turn scorer (None: off, the VAD's silence ends turns) and the status line that says why."""

    scorer: Any = None
    status: str = "off"


@dataclass(frozen=True)
class TurnStage:
    """The turn stage as the app runs it: `settings` (the `EngineConfig`: `vad`, `end_of_turn`, `duplex`, what
    core.turns reads as `TurnSettings`) and the Smart Turn scorer with its status line."""

    settings: Any  # core.engine.config.EngineConfig
    end_of_turn: EndOfTurn

    @property
    def duplex(self) -> str:
        """'full' (the user may interrupt a reply: duplex "speakers", "headphones", or "auto", which the engine
        resolves at start and counts as full until then) or 'half' (the mic is ignored while the app speaks)."""
        return "half" if self.settings.duplex == "half" else "full"


def turn_stage(config: CompanionConfig) -> TurnStage:
    """The turn stage `config` describes, its scorer loaded (`load_end_of_turn`)."""
    return TurnStage(config.engine, load_end_of_turn(config))


@dataclass
class Companion:
    """A built companion: the loaded weights and the plan; `engine()` makes the realtime engine around them."""

    config: CompanionConfig
    runner: Any  # core.lm.runner.OpenS2SRunner (the ModelRunner seam)
    vocoder: Any = None  # core.voice.vocoder.Vocoder (the VoiceSynthesizer seam); None: text-only `reply`
    playback: Any = None  # core.voice.schedule_plan.PlaybackPlan
    end_of_turn: EndOfTurn = field(default_factory=EndOfTurn)
    audio: Any = None  # the audio backend (None: the sounddevice module)

    def turn_stage(self) -> TurnStage:
        """What `engine()` runs the turn stage on."""
        return TurnStage(self.config.engine, self.end_of_turn)

    def engine(self, **kwargs: Any):
        """`core.engine.engine.Engine` for this companion; `kwargs` (sink, conversation, listeners' text signal,
        first_turn_id …) pass through, and override the config's sampling or end-of-turn scorer when given."""
        from core.engine.engine import Engine

        kwargs.setdefault("sampling", self.config.sampling)
        kwargs.setdefault("end_of_turn", self.end_of_turn.scorer)
        kwargs.setdefault("audio", self.audio)
        return Engine(self.runner, self.vocoder, playback=self.playback, config=self.config.engine, **kwargs)


def _quiet(_percent: int, _what: str) -> None:
    pass


def build(config: CompanionConfig, *, audio: Any = None, report: Report = _quiet, vocoder: bool = True,
          end_of_turn: bool = True, download: bool = True, data_root: Path | None = None) -> Companion:
    """Load and prepare everything `config` names. `report(percent, what)` is called between steps (raise from it
    to cancel). `vocoder=False` loads the LM alone (text and units only); `end_of_turn=False` leaves the Smart Turn
    model to the caller (the window loads it with the listeners); `download=False` takes folders only (a hub id is
then an error: the window asks before it downloads). Raises CheckpointError / ResourceError /
    UserError with one line; the previous companion of a caller stays usable."""
    from app.hub import resolve_source
    from app.settings import data_dir

    root = data_root or data_dir()
    report(STEP_SOURCES, "finding the model")
    checkpoint = resolve_source(config.model.checkpoint, "model", root, download=download)
    decoder = resolve_source(config.model.decoder, "decoder", root, download=download) if vocoder else None
    if config.compute.torch_device in (None, "cpu") and config.compute.weights == "full":
        check_memory_for([p for p in (checkpoint, decoder) if p is not None])
    report(STEP_RUNNER, "loading the model")
    from core.lm.runner import OpenS2SRunner

    runner = OpenS2SRunner.load(checkpoint, device=config.compute.torch_device, dtype=config.compute.dtype,
                                weights=config.compute.weights)
    companion = Companion(config, runner, audio=audio)
    if vocoder:
        from core.voice.vocoder import Vocoder

        report(STEP_VOCODER, "loading the speech decoder")
        companion.vocoder = Vocoder.load(decoder, backend=config.voice.backend, device=config.compute.torch_device)
    if config.warm_up:
        from core.engine.warmup import warm_up

        report(STEP_WARMUP, "warming up")  # the first turn then does not pay one-time set-up costs
        warm_up(runner, companion.vocoder)
    if vocoder:
        report(STEP_PLAN, "planning playback")
        companion.playback = playback_plan(config, runner, companion.vocoder)
    if end_of_turn:
        companion.end_of_turn = load_end_of_turn(config)
    return companion


def playback_plan(config: CompanionConfig, runner: Any, vocoder: Any):
    """The schedule, jitter buffer and seed for `config.voice`: "auto" is measured on this machine now."""
    from core.voice.schedule_plan import PlaybackPlan

    if config.voice.schedule == "auto":
        from app.playback_plan import auto_plan

        plan = auto_plan(runner, vocoder, config.voice.seed)
        log.info("vocoder schedule (measured here): chunks %s, jitter buffer %.0f ms", plan.schedule.chunk_units,
                 plan.prebuffer_ms)
        return plan
    return PlaybackPlan.preset(config.voice.schedule, config.voice.seed)


def load_end_of_turn(config: CompanionConfig) -> EndOfTurn:
    """Smart Turn when `config.engine.end_of_turn.semantic`; otherwise, or when the model is missing, off with
    the reason (the VAD's `end_silence_ms` then ends turns)."""
    eot = config.engine.end_of_turn
    if not eot.semantic:
        return EndOfTurn(None, f"off — semantic end of turn is off; {config.engine.vad.end_silence_ms:g} ms of "
                               f"silence ends a turn")
    from core.turns.smart_turn import load_smart_turn

    return EndOfTurn(*load_smart_turn(eot.smart_turn_model))


def check_memory_for(folders: list[Path]) -> None:
    """ResourceError before loading when the weight files alone exceed the memory this process can still get
    (MemAvailable, or what RLIMIT_AS leaves). Some allocators (tokenizers' Rust code) abort the process on
    allocation failure instead of raising, so the check comes first."""
    need = sum(p.stat().st_size for folder in folders for p in Path(folder).rglob("*")
               if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    avail = available_bytes()
    if avail is not None and need > avail:
        raise ResourceError(f"{OUT_OF_MEMORY} (the weights need {need / 2**20:.0f} MB, {avail / 2**20:.0f} MB "
                            f"is available)")


def available_bytes() -> int | None:
    found = []
    try:
        meminfo = Path("/proc/meminfo").read_text()
        found.append(int(re.search(r"MemAvailable:\s+(\d+)", meminfo).group(1)) * 1024)
    except (OSError, AttributeError):
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            used = int(re.search(r"VmSize:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024
            found.append(max(0, soft - used))
        except (OSError, AttributeError):
            pass
    return min(found) if found else None



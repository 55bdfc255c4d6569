"""Load a model + decoder pair on a QThread: progress, one-line errors, cancel between steps.

`load_fn(checkpoint, decoder, settings, report)` does the work; the default loads `OpenS2SRunner` and
`VoiceDecoder` (both raise `models.errors.CheckpointError` with one line for a bad directory). The thread only
reports; the caller swaps models in on `loaded`, so a failed load leaves the previous model in use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal

from app.settings import AppSettings
from models.errors import CheckpointError, UserError

log = logging.getLogger(__name__)

STEP_RUNNER, STEP_DECODER, STEP_WARMUP, STEP_DONE = 10, 60, 90, 100


@dataclass(frozen=True)
class LoadRequest:
    checkpoint: str
    decoder: str
    label: str = ""


class LoadCancelled(Exception):
    pass


class ModelLoader(QThread):
    """`progress(percent, what)`, then `loaded(runner, decoder, request)` or `failed(message)`."""

    progress = Signal(int, str)
    loaded = Signal(object, object, object)
    failed = Signal(str)

    def __init__(self, request: LoadRequest, settings: AppSettings, load_fn: Callable | None = None,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.request, self.settings = request, settings
        self._load_fn = load_fn or load_models
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    def run(self) -> None:
        try:
            runner, decoder = self._load_fn(self.request, self.settings, self._report)
        except LoadCancelled:
            self.failed.emit("Loading was cancelled.")
        except UserError as err:
            self.failed.emit(_one_line(str(err)))
        except (OSError, RuntimeError, ValueError) as err:  # torch/safetensors failures not wrapped by the loader
            log.warning("model load failed", exc_info=True)
            self.failed.emit(_one_line(f"Could not load the model: {err}"))
        else:
            self.progress.emit(STEP_DONE, "ready")
            self.loaded.emit(runner, decoder, self.request)

    def _report(self, percent: int, what: str) -> None:
        if self._cancel:
            raise LoadCancelled
        self.progress.emit(percent, what)


def load_models(request: LoadRequest, settings: AppSettings, report: Callable[[int, str], None]):
    """(runner, vocoder adapter) for the engine; raises CheckpointError naming the bad directory."""
    from app.commands.converse import SeededVocoder
    from core.lm.runner import OpenS2SRunner
    from core.voice.token2wav import VoiceDecoder
    from core.engine.warmup import warm_up

    for what, path in (("model", request.checkpoint), ("decoder", request.decoder)):
        if not path or not Path(path).is_dir():
            raise CheckpointError(f"The {what} folder {path!r} does not exist; pick the folder that holds it.")
    report(STEP_RUNNER, "loading the model")
    runner = OpenS2SRunner.load(request.checkpoint, device=settings.torch_device, weights=settings.weights)
    report(STEP_DECODER, "loading the speech decoder")
    decoder = VoiceDecoder.load(request.decoder, backend=settings.vocoder_backend, device=settings.torch_device)
    report(STEP_WARMUP, "warming up")  # the first turn then does not pay one-time set-up costs
    warm_up(runner, decoder)
    if settings.vocoder_schedule == "auto":
        from app.playback_plan import auto_plan

        plan = auto_plan(runner, decoder)
        return runner, SeededVocoder(decoder, schedule=plan.schedule, prebuffer_ms=plan.prebuffer_ms)
    return runner, SeededVocoder(decoder, schedule=settings.vocoder_schedule)


def _one_line(message: str) -> str:
    return " ".join(message.split())

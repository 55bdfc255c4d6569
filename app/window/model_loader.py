"""Load a model + decoder pair on a QThread: progress, one-line errors, cancel between steps.

`load_fn(request, settings, report)` does the work; the default builds through `app.assembly.build` (which
raises `models.errors.CheckpointError` with one line for a bad folder). The thread only
reports; the caller swaps models in on `loaded`, so a failed load leaves the previous model in use.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal

from app.assembly import OUT_OF_MEMORY, STEP_DONE
from app.settings import AppSettings
from models.errors import UserError, allocation_failure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadRequest:
    checkpoint: str
    decoder: str
    label: str = ""


class LoadCancelled(Exception):
    pass


class ModelLoader(QThread):
    """`progress(percent, what)`, then `loaded(runner, vocoder, playback plan, request)` or `failed(message)`."""

    progress = Signal(int, str)
    loaded = Signal(object, object, object, object)
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
            runner, vocoder, playback = self._load_fn(self.request, self.settings, self._report)
        except LoadCancelled:
            self.failed.emit("Loading was cancelled.")
        except UserError as err:
            self.failed.emit(_one_line(str(err)))
        except Exception as err:  # anything (a bad config number, onnxruntime's own errors, memory): report it
            log.warning("model load failed", exc_info=True)
            if allocation_failure(err):  # past the up-front check (check_memory_for): an activation, another process
                self.failed.emit(OUT_OF_MEMORY)
            else:
                self.failed.emit(_one_line(f"Could not load the model: {type(err).__name__}: {err}"))
        else:
            self.progress.emit(STEP_DONE, "ready")
            self.loaded.emit(runner, vocoder, playback, self.request)

    def _report(self, percent: int, what: str) -> None:
        if self._cancel:
            raise LoadCancelled
        self.progress.emit(percent, what)


def load_models(request: LoadRequest, settings: AppSettings, report: Callable[[int, str], None]):
    """(runner, vocoder, playback plan) for the engine, built by `app.assembly.build` from the settings and the
    request's folders (never downloads: the window asks first, app/window/downloader.py). Raises CheckpointError
    naming the bad folder."""
    from app.assembly import build
    from app.config import ModelSource

    config = dataclasses.replace(settings.config(), model=ModelSource(request.checkpoint, request.decoder))
    companion = build(config, report=report, end_of_turn=False, download=False)  # end of turn: SessionEndOfTurn
    return companion.runner, companion.vocoder, companion.playback


def demo_request(root: Path) -> LoadRequest:
    from app.demo import DEMO_LABEL, demo_paths

    model, decoder = demo_paths(root)
    return LoadRequest(str(model), str(decoder), DEMO_LABEL)


def demo_loader(root: Path) -> Callable:
    """A ModelLoader `load_fn` that writes the demo checkpoint first if needed, then loads it."""
    from app.demo import ensure_demo

    def load(request: LoadRequest, settings: AppSettings, report: Callable[[int, str], None]):
        ensure_demo(root, report)
        return load_models(request, settings, report)

    return load


def _one_line(message: str) -> str:
    return " ".join(message.split())

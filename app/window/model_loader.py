"""Load a model + decoder pair on a QThread: progress, one-line errors, cancel between steps.

`load_fn(checkpoint, decoder, settings, report)` does the work; the default loads `OpenS2SRunner` and
`Vocoder` (both raise `models.errors.CheckpointError` with one line for a bad directory). The thread only
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
from models.errors import CheckpointError, ResourceError, UserError

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
            if _out_of_memory(err):  # past the up-front check (check_memory_for): a large activation, another process
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
    """(runner, vocoder, playback plan) for the engine; raises CheckpointError naming the bad directory."""
    from core.engine.warmup import warm_up
    from core.lm.runner import OpenS2SRunner
    from core.voice.schedule_plan import PlaybackPlan
    from core.voice.vocoder import Vocoder

    for what, path in (("model", request.checkpoint), ("decoder", request.decoder)):
        if not path or not Path(path).is_dir():
            raise CheckpointError(f"The {what} folder {path!r} does not exist; pick the folder that holds it.")
    if settings.torch_device in (None, "cpu") and settings.weights == "full":
        check_memory_for([Path(request.checkpoint), Path(request.decoder)])
    report(STEP_RUNNER, "loading the model")
    runner = OpenS2SRunner.load(request.checkpoint, device=settings.torch_device, weights=settings.weights)
    report(STEP_DECODER, "loading the speech decoder")
    vocoder = Vocoder.load(request.decoder, backend=settings.vocoder_backend, device=settings.torch_device)
    report(STEP_WARMUP, "warming up")  # the first turn then does not pay one-time set-up costs
    warm_up(runner, vocoder)
    if settings.vocoder_schedule == "auto":
        from app.playback_plan import auto_plan

        return runner, vocoder, auto_plan(runner, vocoder)
    return runner, vocoder, PlaybackPlan.preset(settings.vocoder_schedule)


OUT_OF_MEMORY = ("Not enough memory to load this model; close other programs, or pick a smaller model or "
                 "--weights int8.")


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx")


def check_memory_for(folders: list[Path]) -> None:
    """ResourceError before loading when the weight files alone exceed the memory this process can still get
    (MemAvailable, or what RLIMIT_AS leaves). Some allocators (tokenizers' Rust code) abort the process on
    allocation failure instead of raising, so the check comes first."""
    need = sum(p.stat().st_size for folder in folders for p in folder.rglob("*")
               if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    avail = _available_bytes()
    if avail is not None and need > avail:
        raise ResourceError(f"{OUT_OF_MEMORY} (the weights need {need / 2**20:.0f} MB, {avail / 2**20:.0f} MB "
                            f"is available)")


def _available_bytes() -> int | None:
    import re
    import resource

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


def _out_of_memory(err: BaseException) -> bool:
    """MemoryError, or torch's / the OS's own way of saying it (an allocator RuntimeError, ENOMEM)."""
    if isinstance(err, MemoryError) or getattr(err, "errno", None) == 12:
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("can't allocate memory" in text or "not enough memory" in text)


def _one_line(message: str) -> str:
    return " ".join(message.split())

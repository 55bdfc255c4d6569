"""Download the released checkpoints from the Hugging Face hub on a QThread, file by file.

Progress comes from huggingface_hub's own `tqdm_class` hook (bytes) plus the file list's sizes; cancel is a flag
checked between files and in every progress update; resume is huggingface_hub's (an interrupted file's
`.incomplete` part under `local_dir/.cache` is continued on the next run). `list_files` and `download_file`
are injectable, so tests run against a local fake with no network.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal

log = logging.getLogger(__name__)

MODEL_REPO = "CASIA-LM/OpenS2S"
DECODER_REPO = "THUDM/glm-4-voice-decoder"


@dataclass(frozen=True)
class RepoTarget:
    repo_id: str
    local_dir: Path


def default_targets(root: Path) -> tuple[RepoTarget, RepoTarget]:
    """(model, decoder) download folders under the app's data dir."""
    return (
        RepoTarget(MODEL_REPO, root / "models" / MODEL_REPO.replace("/", "--")),
        RepoTarget(DECODER_REPO, root / "models" / DECODER_REPO.replace("/", "--")),
    )


class DownloadCancelled(Exception):
    pass


def hub_list_files(repo_id: str) -> list[tuple[str, int]]:
    from huggingface_hub import HfApi

    return [(f.path, int(f.size or 0)) for f in HfApi().list_repo_tree(repo_id, recursive=True) if hasattr(f, "size")]


def hub_download_file(repo_id: str, filename: str, local_dir: Path, tqdm_class: type) -> str:
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo_id, filename, local_dir=local_dir, tqdm_class=tqdm_class)


class HubDownloader(QThread):
    """`progress(done_bytes, total_bytes, filename)`, then `finished_ok([dirs])`, `failed(msg)` or `cancelled()`."""

    progress = Signal(float, float, str)
    finished_ok = Signal(list)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, targets: tuple[RepoTarget, ...], list_files: Callable = hub_list_files,
                 download_file: Callable = hub_download_file, parent: Any = None) -> None:
        super().__init__(parent)
        self.targets = targets
        self._list_files, self._download_file = list_files, download_file
        self._cancel = False
        self._done = 0.0
        self._total = 0.0
        self._current = ""

    def cancel(self) -> None:
        self._cancel = True

    def run(self) -> None:
        try:
            plan = [(t, self._list_files(t.repo_id)) for t in self.targets]
            self._total = float(sum(size for _, files in plan for _, size in files))
            for target, files in plan:
                self._fetch_repo(target, files)
        except DownloadCancelled:
            log.info("download cancelled after %.0f of %.0f bytes", self._done, self._total)
            self.cancelled.emit()
        except Exception as err:  # network/hub errors come in many types; one line for the dialog
            log.warning("download failed", exc_info=True)
            self.failed.emit(f"Download failed: {' '.join(str(err).split())[:300]}")
        else:
            self.finished_ok.emit([str(t.local_dir) for t in self.targets])

    def _fetch_repo(self, target: RepoTarget, files: list[tuple[str, int]]) -> None:
        target.local_dir.mkdir(parents=True, exist_ok=True)
        for name, size in files:
            self._check_cancel()
            self._current = name
            start = self._done
            self._download_file(target.repo_id, name, target.local_dir, self._progress_class())
            self._done = start + size  # exact, whatever the progress bar counted (resumed parts included)
            self.progress.emit(self._done, self._total, name)

    def _check_cancel(self) -> None:
        if self._cancel:
            raise DownloadCancelled

    def _advance(self, n: float) -> None:
        self._check_cancel()
        self._done += n or 0
        self.progress.emit(min(self._done, self._total), self._total, self._current)

    def _progress_class(self) -> type:
        from tqdm.auto import tqdm

        worker = self

        class _Progress(tqdm):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs["file"] = io.StringIO()  # never print bars from the GUI app
                super().__init__(*args, **kwargs)
                if self.n:  # a resumed file starts part-way
                    worker._advance(self.n)

            def update(self, n: float | None = 1) -> bool | None:
                worker._advance(n or 0)
                return super().update(n)

        return _Progress

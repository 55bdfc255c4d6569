"""Download checkpoints from the Hugging Face hub on a QThread, file by file, after the user confirms.

Phases: `planned(total_bytes, free_bytes)` after listing the files (the window asks the user, showing the size and
the destination), then `confirm()` or `cancel()`; `progress(done, total, filename)`; then `finished_ok([dirs])`,
`failed(message)` or `cancelled()`. Progress comes from huggingface_hub's own `tqdm_class` hook (bytes); cancel
is a flag checked between files and in every progress update, and the window stops listening at once (it does
not wait for a blocked network call). Resume: a dropped connection is continued with a Range request inside
huggingface_hub; after a restart, files already complete are kept and the interrupted one starts over
(huggingface_hub >= 2 never reuses a partial file; its leftovers are deleted here).
A `RepoTarget` with no `local_dir` goes into the hub cache (the listeners load hub ids from there).
`list_files` / `download_file` are injectable; the real ones honour `HF_ENDPOINT`, so tests run them against
a local server.
"""

from __future__ import annotations

import errno
import fnmatch
import io
import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from PySide6.QtCore import QThread, Signal

from core.listeners.config import DEFAULT_ASR_CHECKPOINT, DEFAULT_SER_CHECKPOINT, DEFAULT_TEXT_EMOTION_CHECKPOINT
from core.listeners.events import ASR, ASSISTANT_EMOTION, USER_EMOTION

log = logging.getLogger(__name__)

MODEL_REPO = "CASIA-LM/OpenS2S"
DECODER_REPO = "THUDM/glm-4-voice-decoder"
DEFAULT_ENDPOINT = "https://huggingface.co"
# other frameworks' copies of the same weights; the listeners load safetensors only
LISTENER_SKIP = ("*.bin", "*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "flax_*", "tf_*", "onnx/*", ".git*")
LISTENER_REPOS = {ASR: DEFAULT_ASR_CHECKPOINT, USER_EMOTION: DEFAULT_SER_CHECKPOINT,
                  ASSISTANT_EMOTION: DEFAULT_TEXT_EMOTION_CHECKPOINT}
# approximate sizes for the offers (the confirmation shows the exact listed size)
APPROX_MB = {MODEL_REPO: 18_000, DECODER_REPO: 2_600, DEFAULT_ASR_CHECKPOINT: 300,
             DEFAULT_SER_CHECKPOINT: 380, DEFAULT_TEXT_EMOTION_CHECKPOINT: 330}
DNS_TIMEOUT_S = 4.0


@dataclass(frozen=True)
class RepoTarget:
    repo_id: str
    local_dir: Path | None  # None: the hub cache
    skip: tuple[str, ...] = field(default=())  # fnmatch patterns of files not to fetch

    @property
    def destination(self) -> str:
        return str(self.local_dir) if self.local_dir is not None else hub_cache_dir()

    def wanted(self, files: list[tuple[str, int]]) -> list[tuple[str, int]]:
        return [(n, s) for n, s in files if not any(fnmatch.fnmatch(n, p) for p in self.skip)]


def hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def default_targets(root: Path) -> tuple[RepoTarget, RepoTarget]:
    """(model, decoder) download folders under the app's data dir."""
    return (
        RepoTarget(MODEL_REPO, root / "models" / MODEL_REPO.replace("/", "--")),
        RepoTarget(DECODER_REPO, root / "models" / DECODER_REPO.replace("/", "--")),
    )


def listener_targets(repo_ids: list[str]) -> tuple[RepoTarget, ...]:
    """Listener checkpoints into the hub cache, safetensors only."""
    return tuple(RepoTarget(r, None, LISTENER_SKIP) for r in repo_ids)


def approx_size_text(repo_ids: list[str]) -> str:
    mb = sum(APPROX_MB.get(r, 0) for r in repo_ids)
    return f"about {mb / 1000:.1f} GB" if mb >= 1000 else f"about {mb} MB"


class DownloadCancelled(Exception):
    pass


class OfflineError(ConnectionError):
    """The hub's host name does not resolve: no internet connection."""


def check_online(endpoint: str | None = None, timeout_s: float = DNS_TIMEOUT_S) -> None:
    """Raise OfflineError fast when the hub's host does not resolve (instead of the hub client's retries)."""
    host = urlparse(endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).hostname or ""
    result: list[BaseException | None] = []

    def _resolve() -> None:
        try:
            socket.getaddrinfo(host, 443)
            result.append(None)
        except OSError as err:
            result.append(err)

    t = threading.Thread(target=_resolve, name="dns-check", daemon=True)
    t.start()
    t.join(timeout_s)
    if not result:
        raise OfflineError(f"looking up {host} timed out")
    if result[0] is not None:
        raise OfflineError(f"cannot resolve {host}: {result[0]}") from result[0]


def hub_endpoint() -> str | None:
    """HF_ENDPOINT as it is now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_ENDPOINT") or None


def hub_list_files(repo_id: str) -> list[tuple[str, int]]:
    from huggingface_hub import HfApi

    check_online(hub_endpoint())
    api = HfApi(endpoint=hub_endpoint())
    return [(f.path, int(f.size or 0)) for f in api.list_repo_tree(repo_id, recursive=True) if hasattr(f, "size")]


def hub_download_file(repo_id: str, filename: str, local_dir: Path | None, tqdm_class: type) -> str:
    """One file; an existing complete file is not fetched again (that is what a restarted download resumes)."""
    from huggingface_hub import hf_hub_download

    where = {"local_dir": local_dir} if local_dir is not None else {"cache_dir": os.environ.get("HF_HUB_CACHE")}
    return hf_hub_download(repo_id, filename, endpoint=hub_endpoint(), tqdm_class=tqdm_class, **where)


def remove_stale_parts(local_dir: Path) -> int:
    """Delete `*.incomplete` leftovers of a killed run (huggingface_hub names each attempt uniquely and never
    reuses them). Returns how many."""
    parts = list((local_dir / ".cache" / "huggingface" / "download").rglob("*.incomplete"))
    for p in parts:
        p.unlink(missing_ok=True)
    return len(parts)


def free_bytes(path: Path) -> int:
    """Free space where `path` will be (its nearest existing parent)."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


class HubDownloader(QThread):
    """See the module doc. Call `confirm()` after `planned` to start fetching (or construct with confirmed=True)."""

    planned = Signal(float, float)  # total bytes, free bytes at the first destination
    progress = Signal(float, float, str)
    finished_ok = Signal(list)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, targets: tuple[RepoTarget, ...], list_files: Callable = hub_list_files,
                 download_file: Callable = hub_download_file, parent: Any = None, confirmed: bool = False) -> None:
        super().__init__(parent)
        self.targets = targets
        self._list_files, self._download_file = list_files, download_file
        self._cancel = threading.Event()
        self._go = threading.Event()
        if confirmed:
            self._go.set()
        self._done = 0.0
        self._total = 0.0
        self._current = ""

    def confirm(self) -> None:
        self._go.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._go.set()  # wake a thread waiting for confirmation

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            plan = [(t, t.wanted(self._list_files(t.repo_id))) for t in self.targets]
            self._total = float(sum(size for _, files in plan for _, size in files))
            self.planned.emit(self._total, float(free_bytes(Path(self.targets[0].destination))))
            self._go.wait()
            self._check_cancel()
            for target, files in plan:
                self._fetch_repo(target, files)
        except DownloadCancelled:
            log.info("download cancelled after %.0f of %.0f bytes", self._done, self._total)
            self.cancelled.emit()
        except Exception as err:  # network/hub/disk errors come in many types; one line for the dialog
            if self._cancel.is_set():
                self.cancelled.emit()  # a cancel that broke a blocked call is still a cancel
                return
            log.warning("download failed", exc_info=True)
            self.failed.emit(download_error(err))
        else:
            self.finished_ok.emit([t.destination for t in self.targets])

    def _fetch_repo(self, target: RepoTarget, files: list[tuple[str, int]]) -> None:
        if target.local_dir is not None:
            target.local_dir.mkdir(parents=True, exist_ok=True)
            if remove_stale_parts(target.local_dir):
                log.info("removed the partial files of an interrupted download in %s", target.local_dir)
        for name, size in files:
            self._check_cancel()
            self._current = name
            start = self._done
            self._download_file(target.repo_id, name, target.local_dir, self._progress_class())
            self._done = start + size  # exact, whatever the progress bar counted (resumed parts included)
            self.progress.emit(self._done, self._total, name)

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
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


def download_error(err: BaseException) -> str:
    """One line for a failed download: offline, server gone, disk full, or the error itself."""
    chain: list[BaseException] = []
    e: BaseException | None = err
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in chain:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return "The disk is full: free some space and try again (files already downloaded are kept)."
    if any(isinstance(e, OfflineError) for e in chain):
        return "No internet connection: connect, then try again."
    text = " ".join(" ".join(str(e) for e in chain).split()).lower()
    names = " ".join(type(e).__name__ for e in chain).lower()
    if any(k in text for k in ("name or service not known", "temporary failure in name resolution",
                               "nodename nor servname", "network is unreachable")):
        return "No internet connection: connect, then try again."
    if (any(k in text for k in ("connection refused", "remote end closed", "connection reset",
                                "server disconnected", "incomplete", "peer closed"))
            or any(k in names for k in ("connecterror", "remoteprotocolerror", "readerror", "timeout"))):
        return "The download server stopped answering: try again later (files already downloaded are kept)."
    return f"Download failed: {' '.join(str(err).split())[:200]}"

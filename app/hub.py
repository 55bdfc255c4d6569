"""Downloads from the Hugging Face hub, file by file, with progress, cancel and resume; no Qt.

`RepoFetch` lists what the targets hold (`planned`), then fetches file by file (`progress(done, total, name)`),
checking a cancel flag between files and in every progress update. Resume: a dropped connection is continued with
a Range request inside huggingface_hub; after a restart, files already complete are kept and the interrupted one
starts over (huggingface_hub >= 2 never reuses a partial file; its leftovers are deleted here). A finished target
folder gets a `.complete` marker, so a later start uses it offline. A `RepoTarget` with no `local_dir` goes into
the hub cache (the listeners load hub ids from there). `list_files` / `download_file` are injectable; the real
ones honour `HF_ENDPOINT`, so tests run them against a local server. The window wraps this in
`app.window.downloader.HubDownloader` (a QThread); `resolve_source` serves the command line and `build()`.
"""

from __future__ import annotations

import errno
import fnmatch
import io
import logging
import os
import re
import shutil
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.listeners.config import DEFAULT_ASR_CHECKPOINT, DEFAULT_SER_CHECKPOINT, DEFAULT_TEXT_EMOTION_CHECKPOINT
from core.listeners.events import ASR, ASSISTANT_EMOTION, USER_EMOTION
from models.errors import CheckpointError, UserError

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


COMPLETE_MARKER = ".complete"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name


class RepoFetch:
    """Plans and fetches `targets`; the callbacks run on the calling thread. `cancel()` is thread-safe."""

    def __init__(self, targets: tuple[RepoTarget, ...], list_files: Callable = hub_list_files,
                 download_file: Callable = hub_download_file,
                 progress: Callable[[float, float, str], None] = lambda *_: None) -> None:
        self.targets = targets
        self._list_files, self._download_file, self._progress = list_files, download_file, progress
        self._cancel = threading.Event()
        self.done = 0.0
        self.total = 0.0
        self._current = ""
        self._plan: list[tuple[RepoTarget, list[tuple[str, int]]]] = []

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def plan(self) -> tuple[float, float]:
        """(total bytes, free bytes at the first destination), after listing every target's files."""
        self._plan = [(t, t.wanted(self._list_files(t.repo_id))) for t in self.targets]
        self.total = float(sum(size for _, files in self._plan for _, size in files))
        return self.total, float(free_bytes(Path(self.targets[0].destination)))

    def fetch(self) -> list[str]:
        """Every planned file (plan() first); raises DownloadCancelled. Returns the destinations."""
        self.check_cancel()
        for target, files in self._plan:
            self._fetch_repo(target, files)
        return [t.destination for t in self.targets]

    def _fetch_repo(self, target: RepoTarget, files: list[tuple[str, int]]) -> None:
        if target.local_dir is not None:
            target.local_dir.mkdir(parents=True, exist_ok=True)
            if remove_stale_parts(target.local_dir):
                log.info("removed the partial files of an interrupted download in %s", target.local_dir)
        for name, size in files:
            self.check_cancel()
            self._current = name
            start = self.done
            self._download_file(target.repo_id, name, target.local_dir, self._progress_class())
            self.done = start + size  # exact, whatever the progress bar counted (resumed parts included)
            self._progress(self.done, self.total, name)
        if target.local_dir is not None:
            (target.local_dir / COMPLETE_MARKER).write_text(target.repo_id + "\n", encoding="utf-8")

    def check_cancel(self) -> None:
        if self._cancel.is_set():
            raise DownloadCancelled

    def _advance(self, n: float) -> None:
        self.check_cancel()
        self.done += n or 0
        self._progress(min(self.done, self.total), self.total, self._current)

    def _progress_class(self) -> type:
        from tqdm.auto import tqdm

        fetch = self

        class _Progress(tqdm):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs["file"] = io.StringIO()  # progress goes to the callback, never to a terminal bar
                super().__init__(*args, **kwargs)
                if self.n:  # a resumed file starts part-way
                    fetch._advance(self.n)

            def update(self, n: float | None = 1) -> bool | None:
                fetch._advance(n or 0)
                return super().update(n)

        return _Progress


def is_hub_id(source: str) -> bool:
    return bool(HUB_ID.match(source)) and not Path(source).expanduser().exists()


def resolve_source(source: str | None, what: str, root: Path, *, download: bool = True, out=None) -> Path:
    """A local folder for `source`: a folder as it is, or a hub id downloaded into `root/models/owner--name`
    (progress on `out`, default stderr; Ctrl-C cancels and keeps the finished files; running again resumes).
    A folder that finished downloading before is used without the network. Raises CheckpointError / UserError."""
    if not source:
        raise CheckpointError(f"No {what} given: pass a folder or a hub id.")
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if not download or not is_hub_id(source):
        raise CheckpointError(f"The {what} folder {source!r} does not exist; pick the folder that holds it, or give "
                              f"a hub id (owner/name).")
    target = RepoTarget(source, root / "models" / source.replace("/", "--"))
    if (target.local_dir / COMPLETE_MARKER).is_file():
        return target.local_dir
    out = out or sys.stderr
    fetch = RepoFetch((target,), progress=_printer(out))
    try:
        total, free = fetch.plan()
        print(f"downloading {source} ({total / 2**20:.0f} MB) into {target.local_dir}", file=out, flush=True)
        if total > free:
            raise UserError(f"Not enough disk space for {source}: {total / 2**20:.0f} MB needed, "
                            f"{free / 2**20:.0f} MB free at {target.local_dir}.")
        fetch.fetch()
    except KeyboardInterrupt:
        fetch.cancel()
        raise UserError(f"Download of {source} cancelled; the finished files are kept (run again to resume).") from None
    except (UserError, DownloadCancelled):
        raise
    except Exception as err:  # network/hub/disk errors come in many types: one line
        log.debug("download failed", exc_info=True)
        raise UserError(download_error(err)) from None
    print(file=out, flush=True)
    return target.local_dir


def _printer(out) -> Callable[[float, float, str], None]:
    def show(done: float, total: float, name: str) -> None:
        pct = 100.0 * done / total if total else 100.0
        print(f"\r  {pct:5.1f} %  {done / 2**20:8.1f} of {total / 2**20:.1f} MB  {name[-40:]:<40}", end="",
              file=out, flush=True)
    return show


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

"""The window's download: `app.hub.RepoFetch` on a QThread, after the user confirms.

Phases: `planned(total_bytes, free_bytes)` after listing the files (the window asks the user, showing the size and
the destination), then `confirm()` or `cancel()`; `progress(done, total, filename)`; then `finished_ok([dirs])`,
`failed(message)` or `cancelled()`. Cancel is a flag checked between files and in every progress update, and the
window stops listening at once (it does not wait for a blocked network call). Resume and the hub client:
app/hub.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

from app.hub import DownloadCancelled, RepoFetch, RepoTarget, download_error, hub_download_file, hub_list_files
from app.logs import BRIEF_ON_TERMINAL

log = logging.getLogger(__name__)


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
        self._fetch = RepoFetch(targets, list_files, download_file, self.progress.emit)
        self._go = threading.Event()
        if confirmed:
            self._go.set()

    def confirm(self) -> None:
        self._go.set()

    def cancel(self) -> None:
        self._fetch.cancel()
        self._go.set()  # wake a thread waiting for confirmation

    @property
    def is_cancelled(self) -> bool:
        return self._fetch.is_cancelled

    def run(self) -> None:
        try:
            self.planned.emit(*self._fetch.plan())
            self._go.wait()
            destinations = self._fetch.fetch()
        except DownloadCancelled:
            log.info("download cancelled after %.0f of %.0f bytes", self._fetch.done, self._fetch.total)
            self.cancelled.emit()
        except Exception as err:  # network/hub/disk errors come in many types; one line for the dialog
            if self._fetch.is_cancelled:
                self.cancelled.emit()  # a cancel that broke a blocked call is still a cancel
                return
            message = download_error(err)  # offline, a server gone, a full disk: expected, one line
            # one line on the terminal, the traceback in the log file
            log.warning("download failed: %s", message, exc_info=True, extra=BRIEF_ON_TERMINAL)
            self.failed.emit(message)
        else:
            self.finished_ok.emit(destinations)

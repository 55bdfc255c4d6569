"""Dialogs: open a checkpoint (model + decoder folders), download progress, and the first-run welcome panel."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

log = logging.getLogger(__name__)

MIB = 1024 * 1024
ERROR_CHARS = 300  # longer error lines are cut in the box; Details has all of it


class FolderField(QWidget):
    def __init__(self, text: str, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(text)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(caption))
        lay.addWidget(self.edit, 1)
        lay.addWidget(browse)

    def _browse(self, caption: str) -> None:
        path = QFileDialog.getExistingDirectory(self, caption, self.edit.text())
        if path:
            self.edit.setText(path)


class OpenCheckpointDialog(QDialog):
    """Pick the OpenS2S model folder and the GLM-4-Voice decoder folder."""

    def __init__(self, checkpoint: str = "", decoder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open checkpoint")
        self.setMinimumWidth(560)
        form = QFormLayout(self)
        self.model = FolderField(checkpoint, "OpenS2S model folder")
        self.decoder = FolderField(decoder, "GLM-4-Voice decoder folder")
        form.addRow("Model folder (config.json, *.safetensors)", self.model)
        form.addRow("Decoder folder (config.yaml, flow.pt, hift.pt)", self.decoder)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def paths(self) -> tuple[str, str]:
        return self.model.edit.text().strip(), self.decoder.edit.text().strip()


class DownloadDialog(QDialog):
    """Progress of a `HubDownloader`; Cancel stops it between files or mid-file."""

    def __init__(self, downloader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Download from the Hugging Face hub")
        self.setMinimumWidth(520)
        self._dl = downloader
        lay = QVBoxLayout(self)
        targets = ", ".join(t.repo_id for t in downloader.targets)
        lay.addWidget(QLabel(f"Downloading {targets}.\nAn interrupted download resumes where it stopped."))
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.status = QLabel("listing files…", objectName="dimLabel")
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        lay.addWidget(self.cancel_button, alignment=Qt.AlignmentFlag.AlignRight)
        downloader.progress.connect(self._progress)
        for sig in (downloader.finished_ok, downloader.failed, downloader.cancelled):
            sig.connect(self.accept)

    def _progress(self, done: float, total: float, name: str) -> None:
        self.bar.setValue(int(1000 * done / total) if total else 0)
        self.status.setText(f"{name}   {done / MIB:,.0f} / {total / MIB:,.0f} MiB")

    def _cancel(self) -> None:
        self.status.setText("cancelling…")
        self._dl.cancel()

    def reject(self) -> None:  # Esc / close: cancel the download; the dialog closes when the worker stops
        self._cancel()


class WelcomePanel(QFrame):
    """Shown until a model is loaded: the three ways to get one."""

    download_clicked = Signal()
    open_clicked = Signal()
    demo_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(48, 40, 48, 40)
        lay.setSpacing(14)
        lay.addStretch(1)
        title = QLabel("Welcome to OpenS2S Companion", objectName="welcomeTitle")
        body = QLabel(
            "Talk with a speech language model that runs on this computer. It needs a model first:",
            objectName="welcomeBody",
        )
        body.setWordWrap(True)
        lay.addWidget(title)
        lay.addWidget(body)
        for text, detail, signal, name in (
            ("Download OpenS2S", "CASIA-LM/OpenS2S + THUDM/glm-4-voice-decoder from the Hugging Face hub "
             "(about 20 GB; resumable)", self.download_clicked, "primaryButton"),
            ("Open a folder…", "a model and a decoder you already have", self.open_clicked, "choiceButton"),
            ("Try the demo — random weights, speaks gibberish", "a tiny model made on this machine; works "
             "offline; for trying the app, not the model", self.demo_clicked, "choiceButton"),
        ):
            button = QPushButton(text, objectName=name)
            button.clicked.connect(signal)
            note = QLabel(detail, objectName="dimLabel")
            note.setWordWrap(True)
            lay.addWidget(button)
            lay.addWidget(note)
        lay.addStretch(2)


def show_error(parent: QWidget, title: str, message: str, suffix: str = "") -> QMessageBox:
    """A window-modal, non-blocking error box naming the problem; returned so tests can dismiss it.

    A very long one-line message (e.g. every missing weight key) is shortened; the full text is in Details.
    """
    short = message if len(message) <= ERROR_CHARS else message[: ERROR_CHARS - 1] + "…"
    box = QMessageBox(QMessageBox.Icon.Warning, title, short + suffix, QMessageBox.StandardButton.Ok, parent)
    if short != message:
        box.setDetailedText(message)
    box.setObjectName("errorBox")
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box

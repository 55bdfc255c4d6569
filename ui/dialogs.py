"""Dialogs: open a checkpoint, download (confirm, progress), keyboard shortcuts, and the first-run welcome panel
(with its choice of how the microphone behaves while the app speaks)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
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
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from core.audio.duplex import DUPLEX_LABELS, looks_like_headphones
from ui.theme import icon

log = logging.getLogger(__name__)

MB = 1000 * 1000
GB = 1000 * MB
ERROR_CHARS = 300  # longer error lines are cut in the box; Details has all of it
FIELD_MIN_PX = 420
DIALOG_MIN_PX = 720
# the first-run guide's duplex choices (Settings → Audio also offers "auto"): label, tooltip
GUIDE_DUPLEX = {
    "speakers": (DUPLEX_LABELS["speakers"], "Loudspeakers: the app removes its own voice from the microphone, so you "
                                            "can interrupt it by speaking."),
    "headphones": (DUPLEX_LABELS["headphones"], "Nothing the app plays reaches the microphone: you can interrupt it "
                                                "by speaking."),
    "half": ("Half-duplex", f"{DUPLEX_LABELS['half']}: the app never hears itself, and you wait for the end of a "
                            "reply (or press Stop)."),
}


class FolderField(QWidget):
    def __init__(self, text: str, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(text)
        self.edit.setMinimumWidth(FIELD_MIN_PX)
        self.edit.setToolTip(text)
        self.edit.textChanged.connect(self.edit.setToolTip)  # the whole path, however narrow the field
        self.edit.setCursorPosition(0)  # show the start of a long path
        browse = QPushButton("Browse…")
        browse.setIcon(icon("folder"))
        browse.clicked.connect(lambda: self._browse(caption))
        lay.addWidget(self.edit, 1)
        lay.addWidget(browse)
        self.error = QLabel("", objectName="errorLabel")  # the dialog places it under the field
        self.error.setWordWrap(True)
        self.error.setVisible(False)

    def _browse(self, caption: str) -> None:
        path = QFileDialog.getExistingDirectory(self, caption, self.edit.text() or str(Path.home()))
        if path:
            self.edit.setText(path)
            self.edit.setCursorPosition(0)


class OpenCheckpointDialog(QDialog):
    """Pick the OpenS2S model folder and the GLM-4-Voice decoder folder (labels above full-width fields).

    Open checks both fields first: a blank decoder field means `default_decoder` (the app's downloaded decoder)
    when that folder exists; a blank or missing folder is said under its field, and the dialog stays open with
    everything typed in it."""

    def __init__(self, checkpoint: str = "", decoder: str = "", parent: QWidget | None = None,
                 default_decoder: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Open checkpoint")
        self.setMinimumWidth(min(DIALOG_MIN_PX, _screen_width(parent)))
        self._default_decoder = default_decoder if default_decoder and Path(default_decoder).is_dir() else ""
        lay = QVBoxLayout(self)
        self.model = FolderField(checkpoint, "OpenS2S model folder")
        self.decoder = FolderField(decoder, "GLM-4-Voice decoder folder")
        if self._default_decoder:
            self.decoder.edit.setPlaceholderText(f"blank: the downloaded decoder ({self._default_decoder})")
        for title, hint, field in (
            ("Model folder", "OpenS2S: config.json and *.safetensors", self.model),
            ("Speech decoder folder", "GLM-4-Voice decoder: config.yaml, flow.pt, hift.pt", self.decoder),
        ):
            lay.addWidget(QLabel(f"<b>{title}</b> — {hint}"))
            lay.addWidget(field)
            lay.addWidget(field.error)  # a problem is said here, next to its field; the dialog stays open
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def paths(self) -> tuple[str, str]:
        """(model folder, decoder folder) as typed; a blank decoder is the downloaded one when there is one."""
        return self.model.edit.text().strip(), self.decoder.edit.text().strip() or self._default_decoder

    def accept(self) -> None:
        model, decoder = self.paths()
        problems = {
            self.model: _folder_problem(model, "Pick the OpenS2S model folder (it holds config.json)."),
            self.decoder: _folder_problem(decoder, "Pick the speech decoder folder (GLM-4-Voice decoder: config.yaml, "
                                                   "flow.pt, hift.pt); the model needs it to speak."),
        }
        for field, problem in problems.items():
            field.error.setText(problem)
            field.error.setVisible(bool(problem))
            field.edit.setProperty("invalid", bool(problem))
            field.edit.style().unpolish(field.edit)
            field.edit.style().polish(field.edit)
        bad = [field for field, problem in problems.items() if problem]
        if bad:
            log.info("open checkpoint: %s", " ".join(problems[f] for f in bad))
            bad[0].edit.setFocus()
            return
        super().accept()


def _folder_problem(path: str, if_blank: str) -> str:
    """"" for an existing folder, else what to do about it (one line)."""
    if not path:
        return if_blank
    if not Path(path).expanduser().is_dir():
        return f"No folder {path!r} here; Browse… to pick it."
    return ""


def human_size(n_bytes: float) -> str:
    if n_bytes >= GB:
        return f"{n_bytes / GB:.1f} GB"
    if n_bytes >= MB:
        return f"{n_bytes / MB:.0f} MB"
    return f"{n_bytes / 1000:.0f} kB"


class DownloadDialog(QDialog):
    """A `HubDownloader`'s two steps: confirm (size, destination, free space), then progress.

    Cancel (or Esc) closes the dialog at once and reports `user_cancelled`; the worker stops at its next check
    and its late signals are ignored by the window."""

    user_cancelled = Signal()

    def __init__(self, downloader, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Download from the Hugging Face hub")
        self.setMinimumWidth(min(520, _screen_width(parent)))
        self.setObjectName("downloadDialog")
        self._dl = downloader
        self._closed = False
        lay = QVBoxLayout(self)
        self.message = QLabel(f"Download {what}?\nChecking the size…")
        self.message.setWordWrap(True)
        lay.addWidget(self.message)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until the size is known
        self.status = QLabel("", objectName="dimLabel")
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        self.start_button = QPushButton("Download", objectName="primaryButton")
        self.start_button.setIcon(icon("download", "white"))
        self.start_button.setEnabled(False)
        self.start_button.clicked.connect(self._start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        row.addWidget(self.start_button)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        self._what = what
        downloader.planned.connect(self._planned)
        downloader.progress.connect(self._progress)
        for sig in (downloader.finished_ok, downloader.failed, downloader.cancelled):
            sig.connect(self._worker_done)

    def _planned(self, total: float, free: float) -> None:
        dest = self._dl.targets[0].destination
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.message.setText(
            f"Download {self._what}: <b>{human_size(total)}</b><br>into <code>{dest}</code>"
            f"<br>({human_size(free)} free there). Finished files are kept if it stops."
        )
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.start_button.setEnabled(True)
        self.start_button.setFocus()
        if total > free:
            self.status.setText("Not enough free space there for this download.")

    def _start(self) -> None:
        self.start_button.setEnabled(False)
        self.status.setText("starting…")
        self._dl.confirm()

    def _progress(self, done: float, total: float, name: str) -> None:
        self.bar.setValue(int(1000 * done / total) if total else 0)
        self.status.setText(f"{name}   {human_size(done)} of {human_size(total)}")

    def _worker_done(self, *_args) -> None:
        if not self._closed:
            self._closed = True
            super().accept()

    def reject(self) -> None:  # Cancel / Esc / close: immediate; the worker is told and not waited for
        if self._closed:
            return
        self._closed = True
        self._dl.cancel()
        self.user_cancelled.emit()
        super().reject()


def guide_duplex(setting: str, output_device: str | None, audio: object | None) -> str:
    """What the guide preselects: the setting when chosen, else what "auto" resolves to for the output device when
    its name is known without opening the sound system (a device in the settings, or a backend already open), else
    speakers."""
    if setting != "auto":
        return setting
    name = output_device or ""
    if not name and audio is not None:
        from core.audio.devices import device_info

        try:
            name = str(device_info(audio, None, "output").get("name", ""))
        except Exception as err:  # no output device: the guide still offers the choice
            log.info("no output device name for the guide: %s", err)
    return "headphones" if looks_like_headphones(name) else "speakers"


class WelcomePanel(QFrame):
    """Shown until a model is loaded: the three ways to get one, plus the listener models.

    Its buttons take focus only by Tab (no button is focused at start, so a stray key press does nothing)."""

    download_clicked = Signal()
    open_clicked = Signal()
    demo_clicked = Signal()
    listeners_clicked = Signal()
    duplex_chosen = Signal(str)  # the user picked one of GUIDE_DUPLEX (not sent by set_duplex)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        # the panel itself holds the focus at start, so activating the window focuses no button
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        outer = QVBoxLayout(self)  # scrolls in a small window (640x500) instead of squeezing its buttons
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(objectName="welcomeScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        page = QWidget(objectName="welcomePage")
        scroll.setWidget(page)
        outer.addWidget(scroll)
        lay = QVBoxLayout(page)
        lay.setContentsMargins(40, 24, 40, 24)
        lay.setSpacing(10)
        lay.addStretch(1)
        self.title = title = QLabel("Welcome to OpenS2S Companion", objectName="welcomeTitle")
        title.setWordWrap(True)
        self.body = body = QLabel(
            "Talk with a speech language model that runs on this computer. It needs a model first:",
            objectName="welcomeBody",
        )
        body.setWordWrap(True)
        lay.addWidget(title)
        lay.addWidget(body)
        self.buttons: dict[str, QPushButton] = {}
        for key, text, detail, signal, name, icon_name in (
            ("download", "Download OpenS2S", "CASIA-LM/OpenS2S + THUDM/glm-4-voice-decoder from the Hugging Face "
             "hub (about 20 GB; asks first; resumable)", self.download_clicked, "primaryButton", "download"),
            ("open", "Open a folder…", "a model and a decoder you already have", self.open_clicked,
             "choiceButton", "folder"),
            ("demo", "Try the demo — random weights, speaks gibberish", "a tiny model made on this machine; works "
             "offline; shows the whole app (transcript and emotions too, from random listeners)",
             self.demo_clicked, "choiceButton", "demo"),
            ("listeners", "Download the listeners", "transcript and emotion models (about 1 GB) for a real model; "
             "optional", self.listeners_clicked, "choiceButton", "download"),
        ):
            button = QPushButton(text, objectName=name)
            button.setIcon(icon(icon_name, "white" if name == "primaryButton" else "gray"))
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            button.setAutoDefault(False)
            button.clicked.connect(signal)
            note = QLabel(detail, objectName="dimLabel")
            note.setWordWrap(True)
            lay.addWidget(button)
            lay.addWidget(note)
            self.buttons[key] = button
        self._duplex_row(lay)
        lay.addStretch(2)

    def _duplex_row(self, lay: QVBoxLayout) -> None:
        """"Replies play on:" above a radio button per GUIDE_DUPLEX choice (the three fit a 640 px window)."""
        row = QHBoxLayout()
        row.setSpacing(14)
        title = QLabel("Replies play on:", objectName="dimLabel")
        title.setToolTip("How the microphone behaves while the app speaks; guessed from the output device's name. "
                         "Change it any time in Settings → Audio.")
        lay.addWidget(title)
        self.duplex_group = QButtonGroup(self)
        self.duplex_buttons: dict[str, QRadioButton] = {}
        for value, (text, tip) in GUIDE_DUPLEX.items():
            radio = QRadioButton(text)
            radio.setToolTip(tip)
            radio.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            radio.setProperty("duplex", value)
            self.duplex_group.addButton(radio)
            self.duplex_buttons[value] = radio
            row.addWidget(radio)
        row.addStretch(1)
        lay.addLayout(row)
        self.duplex_group.buttonClicked.connect(lambda b: self.duplex_chosen.emit(b.property("duplex")))

    def set_returning(self) -> None:
        """A returning user (a model was loaded before): no first-run welcome, only the ways to get a model."""
        self.title.setText("Welcome back")
        self.body.setText("Load a model to go on; your past conversations are in History (Ctrl+H).")

    def set_duplex(self, value: str) -> None:
        """Show `value` as chosen ("auto" or an unknown value: none of the buttons)."""
        radio = self.duplex_buttons.get(value)
        if radio is not None:
            radio.setChecked(True)

    def refresh_icons(self) -> None:
        for key, name in (("open", "folder"), ("demo", "demo"), ("listeners", "download")):
            self.buttons[key].setIcon(icon(name))


class ShortcutsDialog(QDialog):
    """Help → Keyboard shortcuts: every window shortcut, read from the actions themselves."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcutsDialog")
        lay = QVBoxLayout(self)
        grid = QFormLayout()
        for key, what in rows:
            k = QLabel(key, objectName="shortcutKey")
            grid.addRow(k, QLabel(what))
        lay.addLayout(grid)
        note = QLabel("They work wherever the focus is, the text box included.", objectName="dimLabel")
        lay.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)


def _screen_width(parent: QWidget | None) -> int:
    screen = parent.screen() if parent is not None else None
    return screen.availableGeometry().width() - 40 if screen is not None else DIALOG_MIN_PX


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

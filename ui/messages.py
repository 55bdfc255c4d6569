"""Short, human lines for the GUI: listener statuses, engine messages without command-line flag names,
and download errors.

The core's messages are written for the terminal (they name `--input-device`); the window names its own
controls instead. Listener "off" reasons from the loader are mapped to a few plain phrases; the full reason
stays in the tooltip.
"""

from __future__ import annotations

import html
import re

from core.audio.duplex import DUPLEX_LABELS
from core.listeners.events import ASR, ASSISTANT_EMOTION, USER_EMOTION, ListenerStatus

LISTENER_TITLES = {ASR: "Transcript", USER_EMOTION: "Your emotion", ASSISTANT_EMOTION: "Reply emotion"}
NOT_DOWNLOADED = "model not downloaded"
DEMO_MARK = "demo"  # listener checkpoints under the data dir's demo folder are random

# core message fragment -> what to say in the window
INTERRUPT_HINT = (f"choose “{DUPLEX_LABELS['speakers']}” or “{DUPLEX_LABELS['headphones']}” in "
                  "Settings → Audio")
FLAG_NAMES = {
    "--input-device": "input device (Settings → Audio)",
    "--output-device": "output device (Settings → Audio)",
    "--duplex": "microphone mode (Settings → Audio)",
    "--barge-in": "microphone mode (Settings → Audio)",
    "--decoder": "decoder folder (File → Open checkpoint)",
    "--checkpoint": "model folder (File → Open checkpoint)",
    "--weights": "LM weights (Settings → Model)",
    "--device": "compute device (Settings → Model)",
}
_FLAG = re.compile(r"--[a-z][a-z0-9-]+")
_SEE_DEVICES = re.compile(r"\s*\(see `main\.py devices`\)")


_SILENCE = re.compile(r"The microphone has delivered pure silence for ([\d.]+) s")


def gui_text(message: str) -> str:
    """An engine / loader message with command-line flags replaced by the window's own names."""
    silent = _SILENCE.match(message)
    if silent:  # the status bar is one line: keep it short
        return f"The microphone has been silent for {silent.group(1)} s: is it muted? Check Settings → Audio."
    out = _SEE_DEVICES.sub("", message)
    for flag, name in FLAG_NAMES.items():
        out = out.replace(f"with {flag}", f"in the {name}").replace(f"right {flag}", f"right {name}")
        out = out.replace(flag, name)
    return _FLAG.sub("the matching setting", out)


def _short_reason(reason: str) -> str:
    low = reason.lower()
    if "disabled in config" in low:
        return "turned off in Settings"
    if ("not downloaded" in low or "couldn't connect" in low or "local_files_only" in low
            or "cannot find the requested files" in low or "not found in the local cache" in low
            or "offline mode" in low or "we couldn't" in low):
        return NOT_DOWNLOADED
    if "checkpoint not found" in low:
        return "folder not found"
    return "could not load the model"


def listener_line(status: ListenerStatus, downloadable: bool) -> tuple[str, str]:
    """(plain text, rich text with a Download link) for one listener, e.g.
    "Transcript: off — model not downloaded [Download]"."""
    title = LISTENER_TITLES.get(status.name, status.name)
    demo = bool(status.checkpoint) and f"/{DEMO_MARK}/" in str(status.checkpoint).replace("\\", "/")
    if status.enabled:
        state = "on (random demo)" if demo else "on"
    elif status.loading:
        state = "loading…"
    else:
        state = f"off — {_short_reason(status.reason)}"
    plain = f"{title}: {state}"
    rich = f"<b>{_nowrap(title)}</b>:&nbsp;{_nowrap(state)}"
    if not status.enabled and not status.loading and downloadable and NOT_DOWNLOADED in state:
        plain += " [Download]"
        rich += f'&nbsp;<a href="download:{status.name}">Download</a>'
    return plain, rich


def _nowrap(text: str) -> str:
    """One listener's line is one phrase: a narrow header wraps between listeners, never inside one ("model not /
    downloaded Download")."""
    return html.escape(text).replace(" ", "&nbsp;")


# -- the window's status-bar lines (ui/main_window.py, ui/history_view.py, ui/window_journal.py, ui/window_export.py)
STATUS_MESSAGE_MS = 6000  # how long a status-bar line stays
TEXT_ONLY_MESSAGE_MS = 30000  # the text-only fallback's line (and other lines a user must not miss)
HISTORY_SHORTCUT = "Ctrl+H"
NEW_FILED = f"Started a new conversation; the last one is in History ({HISTORY_SHORTCUT})."
NEW_EMPTY = "New conversation: the model's history is cleared."
LAST_IN_HISTORY = f"Your last conversation is in History ({HISTORY_SHORTCUT})."
DECLINED = f"The last conversation is in History ({HISTORY_SHORTCUT})."
NOTHING_TO_EXPORT = "Nothing to export yet: say or type something first."

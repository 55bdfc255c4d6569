"""Listeners beside the reply: live user transcript (Whisper), user speech emotion, assistant text emotion.

Import `Listeners` and `ListenersConfig` from here; events are in `core.listeners.events`.
"""

from core.listeners.config import ListenersConfig
from core.listeners.manager import Listeners

__all__ = ["Listeners", "ListenersConfig"]

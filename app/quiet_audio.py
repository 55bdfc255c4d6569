"""Keep the terminal readable: silence libasound's own stderr lines and known third-party warnings.

PortAudio's ALSA host API lets libasound print "ALSA lib pcm.c:…: underrun occurred" (and device probing
chatter) straight to stderr, hundreds of lines per run. libasound has one process-wide error handler; we
install a no-op one through ctypes before PortAudio is loaded. Our own code reports audio trouble through
EngineError / DeviceError, so nothing the user needs is lost.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import warnings

log = logging.getLogger(__name__)

# void handler(const char *file, int line, const char *function, int err, const char *fmt, ...)
_HANDLER_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
_installed: list = []  # keeps the callback alive for the life of the process


def silence_alsa() -> bool:
    """Install a no-op libasound error handler; True if libasound was found (idempotent)."""
    if _installed:
        return True
    name = ctypes.util.find_library("asound") or "libasound.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return False  # no ALSA on this system (macOS, Windows, minimal containers)
    handler = _HANDLER_TYPE(lambda *_: None)
    lib.snd_lib_error_set_handler(handler)
    _installed.append((lib, handler))
    log.debug("libasound error messages silenced")
    return True


def quiet_third_party_warnings() -> None:
    """Deprecation notices from libraries that the user can do nothing about (logged at debug instead)."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\..*)?")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch(\..*)?")


def quiet_process() -> None:
    """Everything `main.py` does before the command line is parsed to keep the terminal to what the user needs:
    known noisy import loggers at ERROR, libasound's chatter off, third-party deprecation notices off."""
    from models.weights import NOISY_IMPORT_LOGGERS  # torch-free

    for name in NOISY_IMPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    silence_alsa()  # before PortAudio loads: no "ALSA lib … underrun occurred" lines on the terminal
    quiet_third_party_warnings()

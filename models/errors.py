"""User-facing errors: one line that says what is wrong and what to do.

Raise `UserError` (or a subclass) for anything a user can fix; front ends show `str(err)` without a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by input the user controls (files, devices, options)."""


class CheckpointError(UserError):
    """A model or decoder directory is missing files, has corrupt files, or does not match its config."""


class AudioInputError(UserError):
    """Audio that cannot be used as a user turn (unreadable, empty, silent, NaN, too long...)."""


class DeviceError(UserError):
    """An audio or compute device is missing, refused a setting, or disappeared."""


class ResourceError(UserError):
    """The compute device ran out of memory (or another resource the user can free)."""


def allocation_failure(err: BaseException) -> bool:
    """Whether `err` is a failed allocation said another way: torch's CPU allocator raises a RuntimeError ("can't
    allocate memory"), CUDA a torch.OutOfMemoryError (a RuntimeError), mmap an OSError with ENOMEM."""
    if isinstance(err, MemoryError) or getattr(err, "errno", None) == 12:
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text
                                              or "not enough memory" in text)

"""The offline demo: a tiny random OpenS2S model, tiny GLM-4-Voice decoder and tiny listeners in the data dir.

Generated on demand (a few seconds on a CPU) with the same factories the tests use. It runs the whole app
offline — transcript and emotion labels included — but every weight is random: it speaks gibberish, the
listeners guess at random, and the UI says so. Demo replies are capped at about three seconds.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from app.config import CompanionConfig, ModelSource
from app.settings import AppSettings
from core.files import fsync_dir

log = logging.getLogger(__name__)

DEMO_LABEL = "demo — random weights, speaks gibberish"
DEMO_DIR = "demo"
DONE_MARKER = ".complete"
DEMO_SEED = 0
LISTENERS_DIR = "listeners"
DEMO_MAX_UNITS = 40  # ~3 s of speech (the tiny decoder makes ~75 ms per unit, as the real one's 12.5 Hz)
DEMO_MAX_TEXT_TOKENS = 24


def demo_paths(root: Path) -> tuple[Path, Path]:
    return root / DEMO_DIR / "model", root / DEMO_DIR / "decoder"


def demo_listener_dirs(root: Path) -> dict[str, Path]:
    from models.listeners.tiny import ASR_DIR, SER_DIR, TEXT_DIR

    base = root / DEMO_DIR / LISTENERS_DIR
    return {"asr": base / ASR_DIR, "ser": base / SER_DIR, "text_emotion": base / TEXT_DIR}


def demo_config(config: CompanionConfig, root: Path) -> CompanionConfig:
    """`config` with the demo's folders (written on first use): its model, decoder and random listeners (as the
    window's demo, `demo_settings`), and replies of about three seconds."""
    model, decoder = ensure_demo(root)
    sampling = config.sampling
    dirs = demo_listener_dirs(root)
    return dataclasses.replace(
        config,
        model=ModelSource(str(model), str(decoder)),
        listeners=dataclasses.replace(config.listeners, asr_checkpoint=str(dirs["asr"]),
                                      ser_checkpoint=str(dirs["ser"]),
                                      text_emotion_checkpoint=str(dirs["text_emotion"])),
        sampling=dataclasses.replace(sampling, max_units=min(sampling.max_units or DEMO_MAX_UNITS, DEMO_MAX_UNITS),
                                     max_text_tokens=min(sampling.max_text_tokens or DEMO_MAX_TEXT_TOKENS,
                                                         DEMO_MAX_TEXT_TOKENS)),
    )


def demo_settings(settings: AppSettings, root: Path) -> AppSettings:
    """`settings` as the demo runs them: its random listeners and replies of about three seconds."""
    dirs = demo_listener_dirs(root)
    return dataclasses.replace(
        settings,
        asr_checkpoint=str(dirs["asr"]),
        ser_checkpoint=str(dirs["ser"]),
        text_emotion_checkpoint=str(dirs["text_emotion"]),
        max_units=min(settings.max_units or DEMO_MAX_UNITS, DEMO_MAX_UNITS),
        max_text_tokens=min(settings.max_text_tokens or DEMO_MAX_TEXT_TOKENS, DEMO_MAX_TEXT_TOKENS),
    )


def ensure_demo(root: Path, report: Callable[[int, str], None] | None = None) -> tuple[Path, Path]:
    """Write the demo checkpoint and listeners once; (model_dir, decoder_dir).

    Atomic: everything is written into a temporary sibling folder, marked complete, then renamed to `demo/`, so a
    reader (another process, or the next start after a kill) sees the whole demo or none of it."""
    from models.tiny_checkpoint import make_tiny_checkpoint
    from models.tiny_decoder import make_tiny_decoder

    model, decoder = demo_paths(root)
    final = root / DEMO_DIR
    if _complete(final):
        return model, decoder
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{DEMO_DIR}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if report:
            report(2, "writing the demo model (random weights)")
        make_tiny_checkpoint(staging / model.name, seed=DEMO_SEED, shards=1)
        if report:
            report(6, "writing the demo speech decoder (random weights)")
        make_tiny_decoder(staging / decoder.name, seed=DEMO_SEED)
        if report:
            report(8, "writing the demo listeners (random weights)")
        from models.listeners.tiny import write_tiny_listeners

        write_tiny_listeners(staging / LISTENERS_DIR)
        (staging / DONE_MARKER).write_text("ok\n", encoding="utf-8")
        _swap_in(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("demo checkpoint written to %s", final)
    return model, decoder


def _complete(folder: Path) -> bool:
    return (folder / DONE_MARKER).exists() and (folder / LISTENERS_DIR).is_dir()


def _swap_in(staging: Path, final: Path) -> None:
    """Rename the finished `staging` to `final`; an incomplete `final` (a run killed before this fix) is moved
    aside first; a complete one that appeared meanwhile (another process) is kept and `staging` dropped."""
    if final.exists() and not _complete(final):
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.rename(staging, final)
    except OSError:
        if not _complete(final):
            raise
    fsync_dir(final.parent)

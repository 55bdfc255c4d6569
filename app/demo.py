"""The offline demo checkpoint: a tiny random OpenS2S model + tiny GLM-4-Voice decoder in the user data dir.

Generated on demand (a few seconds on a CPU) with the same factories the tests use. It runs the whole app
offline, but its weights are random: it speaks gibberish, and the UI says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from app.model_loader import LoadRequest, load_models
from app.settings import AppSettings

log = logging.getLogger(__name__)

DEMO_LABEL = "demo — random weights, speaks gibberish"
DEMO_DIR = "demo"
DONE_MARKER = ".complete"
DEMO_SEED = 0


def demo_paths(root: Path) -> tuple[Path, Path]:
    return root / DEMO_DIR / "model", root / DEMO_DIR / "decoder"


def demo_request(root: Path) -> LoadRequest:
    model, decoder = demo_paths(root)
    return LoadRequest(str(model), str(decoder), DEMO_LABEL)


def ensure_demo(root: Path, report: Callable[[int, str], None] | None = None) -> tuple[Path, Path]:
    """Write the demo checkpoint once (a marker file says it is complete); returns (model_dir, decoder_dir)."""
    from models.tiny_checkpoint import make_tiny_checkpoint
    from models.tiny_decoder import make_tiny_decoder

    model, decoder = demo_paths(root)
    marker = root / DEMO_DIR / DONE_MARKER
    if marker.exists():
        return model, decoder
    if report:
        report(2, "writing the demo model (random weights)")
    make_tiny_checkpoint(model, seed=DEMO_SEED, shards=1)
    if report:
        report(6, "writing the demo speech decoder (random weights)")
    make_tiny_decoder(decoder, seed=DEMO_SEED)
    marker.write_text("ok\n", encoding="utf-8")
    log.info("demo checkpoint written to %s", root / DEMO_DIR)
    return model, decoder


def demo_loader(root: Path) -> Callable:
    """A ModelLoader `load_fn` that writes the demo checkpoint first if needed, then loads it."""

    def load(request: LoadRequest, settings: AppSettings, report: Callable[[int, str], None]):
        ensure_demo(root, report)
        return load_models(request, settings, report)

    return load

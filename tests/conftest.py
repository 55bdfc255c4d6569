"""Session fixtures: tiny random checkpoints in the released layout, made once per test session."""

from __future__ import annotations

import pytest

from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint

# speech_factory (espeak-ng speech) and pulse_server (a private PulseAudio server): used by several stages.
pytest_plugins = ["tests.audio_fixtures"]

# (spec, seed, shards) for each tiny checkpoint the stored reference vectors were made with.
TINY_VARIANTS = {
    "1:2": (TinySpec(), 0, 2),
    "3:1": (TinySpec(interleave_strategy="3:1"), 3, 2),
    "4:8": (TinySpec(interleave_strategy="4:8"), 4, 1),
}


@pytest.fixture(scope="session")
def tiny_checkpoint_factory(tmp_path_factory):
    made = {}

    def get(variant: str = "1:2"):
        if variant not in made:
            spec, seed, shards = TINY_VARIANTS[variant]
            out = tmp_path_factory.mktemp(f"tiny_{variant.replace(':', 'x')}")
            made[variant] = make_tiny_checkpoint(out, spec, seed=seed, shards=shards)
        return made[variant]

    return get


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_checkpoint_factory):
    """Path to the default tiny OpenS2S checkpoint (interleave 1:2, sharded)."""
    return tiny_checkpoint_factory("1:2")


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory):
    """Path to a tiny random GLM-4-Voice decoder in the released layout."""
    from models.tiny_decoder import make_tiny_decoder

    return make_tiny_decoder(tmp_path_factory.mktemp("tiny_decoder"), seed=0)


@pytest.fixture(scope="session")
def tiny_speech_tokenizer(tmp_path_factory):
    """Path to a tiny random GLM-4-Voice speech tokenizer in the released layout (seed 0: the parity vectors')."""
    from models.tiny_speech_tokenizer import write_tiny_speech_tokenizer

    return write_tiny_speech_tokenizer(tmp_path_factory.mktemp("tiny_speech_tokenizer"), seed=0)


@pytest.fixture(scope="session")
def tiny_runner(tiny_checkpoint):
    from core.lm.runner import OpenS2SRunner

    return OpenS2SRunner.load(tiny_checkpoint, device="cpu")


def pytest_configure(config):
    """Qt widgets render offscreen unless a test (e.g. the Xvfb one) asks for a real display itself; without this a
    machine with no display aborts when the QApplication is created."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "requires_gpu" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (CI=true) nothing may skip but `requires_gpu`: any other skip is reported as a failure, so a test
    whose tool or permission is missing on a fresh machine cannot pass silently."""
    import os

    outcome = yield
    report = outcome.get_result()
    xfailed = hasattr(report, "wasxfail")  # pytest reports an expected failure as skipped; it is not a skip
    if report.skipped and not xfailed and os.environ.get("CI") == "true" and "requires_gpu" not in item.keywords:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (only requires_gpu may skip): {reason}"


def pytest_sessionfinish(session, exitstatus):
    """Free what the tests left for the cycle collector (e.g. Qt windows holding engines with soxr resamplers),
    so that native extensions do not report leaks after pytest's summary at interpreter exit."""
    import gc

    gc.collect()

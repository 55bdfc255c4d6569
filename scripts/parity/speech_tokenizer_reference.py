"""Reference numbers for tests/speech_tokenizer/test_reference_parity.py: GLM-4-Voice's own speech tokenizer code
on our tiny random checkpoint. Writes numbers only (codes, float64 pooled encoder states, fp32 error, fingerprints)
to an .npz.

Reference: THUDM/GLM-4-Voice @ eb00ce9142e8d98b0ed7c57cd47e0d6d5dce9a1a, `speech_tokenizer/` (modeling_whisper.py,
configuration_whisper.py, utils.py: `WhisperVQEncoder`, `load_quantize_encoder`, `extract_speech_token`), run
unmodified from a checkout OUTSIDE this repository.
Environment (2026-12-01): Debian 12, Python 3.11.7, a venv with torch 2.13.0+cpu, transformers 4.44.1 (the
reference's pin), numpy 1.26.4, safetensors 0.4.5; CPU, fp32 (and a float64 rerun for tolerances).
Two shims, applied here and not in the reference code: torchaudio is not installed (it is imported at module level
but only used to load files and resample, and these clips are 16 kHz tensors), so a stub module stands in; the
reference hard-codes `.cuda()`, so Tensor/Module `.cuda()` and the feature extractor's `device="cuda"` map to CPU.

How it was run:
    /work/main/.venv/bin/python main.py make-tiny-speech-tokenizer /tmp/tok_tiny --seed 0
    mkdir -p /tmp/glm4voice_ref && git --git-dir=<GLM-4-Voice mirror> archive eb00ce91 speech_tokenizer \\
        | tar x -C /tmp/glm4voice_ref
    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install torch==2.13.0 transformers==4.44.1 \\
        numpy==1.26.4 safetensors==0.4.5
    PYTHONPATH=/tmp/glm4voice_ref /tmp/refvenv/bin/python scripts/parity/speech_tokenizer_reference.py \\
        --tokenizer /tmp/tok_tiny --out tests/reference/reference_speech_tokenizer_tiny.npz
"""

from __future__ import annotations

import argparse
import math
import sys
import types
from pathlib import Path

import numpy as np
import torch

RATE_HZ = 16000
STRIDE_SAMPLES = 1280  # one code
SEGMENT_SAMPLES = 30 * RATE_HZ
# name -> (duration s, seed). long: two 30 s segments; short: under one 200-frame (4 s) attention block and an exact
# stride multiple (no padding when alone); mid: crosses a block boundary, not a stride multiple.
CLIPS = {"long": (40.0, 11), "short": (2.0, 12), "mid": (7.3, 13)}


def parity_clip(duration_s: float, seed: int) -> np.ndarray:
    """Speech-like test signal: two swept tones under a syllable-rate envelope, plus noise (16 kHz float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration_s * RATE_HZ))) / RATE_HZ
    envelope = 0.2 + 0.8 * np.sin(2 * np.pi * 2.7 * t) ** 2
    voice = 0.3 * np.sin(2 * np.pi * (140 + 50 * t) * t) + 0.1 * np.sin(2 * np.pi * (700 + 150 * np.sin(t)) * t)
    return (envelope * voice + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def install_shims() -> None:
    """torchaudio stub and `.cuda()` -> CPU (see the module docstring)."""
    from transformers import feature_extraction_utils  # before the stub: transformers probes torchaudio's spec

    stub = types.ModuleType("torchaudio")
    stub.load = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("torchaudio stub: pass (tensor, 16000) tuples"))
    stub.transforms = types.SimpleNamespace(Resample=None)
    sys.modules["torchaudio"] = stub
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    to = feature_extraction_utils.BatchFeature.to

    def to_cpu(self, *args, **kwargs):
        args = tuple("cpu" if a == "cuda" else a for a in args)
        if kwargs.get("device") == "cuda":
            kwargs["device"] = "cpu"
        return to(self, *args, **kwargs)

    feature_extraction_utils.BatchFeature.to = to_cpu


def cpu_extractor(extractor):
    """The feature extractor with the reference's `device="cuda"` redirected to the CPU."""

    class CpuExtractor(type(extractor)):
        def __call__(self, *args, **kwargs):
            if kwargs.get("device") == "cuda":
                kwargs["device"] = "cpu"
            return super().__call__(*args, **kwargs)

    extractor.__class__ = CpuExtractor
    return extractor


def prefixed_copy(src: Path, dst: Path) -> Path:
    """The same weights under `model.encoder.*`, the layout `load_quantize_encoder` reads."""
    import shutil

    from safetensors.torch import load_file, save_file

    dst.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy(src / name, dst / name)
    state = load_file(str(src / "model.safetensors"))
    save_file({f"model.encoder.{k}": v for k, v in state.items()}, str(dst / "model.safetensors"))
    return dst


class PooledStates:
    """Forward hook on the reference's pooling layer: the states the codebook lookup sees, per batch."""

    def __init__(self, model) -> None:
        self.batches: list[torch.Tensor] = []
        model.pooling_layer.register_forward_hook(lambda m, i, o: self.batches.append(o.permute(0, 2, 1).detach()))

    def per_utterance(self, clips: list[np.ndarray], batch_size: int = 128) -> list[np.ndarray]:
        """Valid states per utterance, from the hooked batches (segments in the reference's order)."""
        rows = [torch.cat([b for b in self.batches], dim=0)] if self.batches else []
        flat = [r for batch in rows for r in batch]
        self.batches.clear()
        out, k = [], 0
        for clip in clips:
            parts = []
            for start in range(0, clip.size, SEGMENT_SAMPLES):
                n_codes = math.ceil(min(SEGMENT_SAMPLES, clip.size - start) / STRIDE_SAMPLES)
                parts.append(flat[k][:n_codes].double().numpy())
                k += 1
            out.append(np.concatenate(parts))
        return out


def run(model, extractor, clips: list[np.ndarray], float64: bool) -> tuple[list[list[int]], list[np.ndarray]]:
    from speech_tokenizer.utils import extract_speech_token

    if float64:
        model.double()
        model.register_forward_pre_hook(
            lambda m, a, kw: (a, {**kw, "input_features": kw["input_features"].double()}), with_kwargs=True
        )
    hook = PooledStates(model)
    codes = extract_speech_token(model, extractor, [(torch.from_numpy(c)[None], RATE_HZ) for c in clips])
    return codes, hook.per_utterance(clips)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    install_shims()
    import transformers
    from speech_tokenizer.modeling_whisper import WhisperVQEncoder
    from speech_tokenizer.utils import load_quantize_encoder
    from transformers import WhisperFeatureExtractor

    torch.set_num_threads(1)
    clips = [parity_clip(*CLIPS[name]) for name in CLIPS]
    extractor = cpu_extractor(WhisperFeatureExtractor.from_pretrained(str(args.tokenizer)))

    def official(float64: bool = False):
        model, info = WhisperVQEncoder.from_pretrained(str(args.tokenizer), output_loading_info=True)
        problems = {k: v for k, v in info.items() if v}
        assert not problems, f"official loader reported {problems}"
        return model.eval()

    data: dict[str, np.ndarray] = {}
    batched, states = run(official(), extractor, clips, float64=False)
    batched64, states64 = run(official(), extractor, clips, float64=True)
    alone = [run(official(), extractor, [c], float64=False)[0][0] for c in clips]
    prefixed = prefixed_copy(args.tokenizer, Path("/tmp/speech_tokenizer_prefixed"))
    via_prefixed, _ = run(load_quantize_encoder(str(prefixed)), extractor, clips, float64=False)
    assert via_prefixed == batched, "the two reference loaders disagree"
    rows = zip(CLIPS, clips, batched, batched64, alone, states, states64, strict=True)
    for name, clip, codes, codes64, one, st, st64 in rows:
        assert codes == codes64, f"{name}: fp32 and fp64 codes differ; the clip sits on a near tie"
        data[f"{name}/clip_sum"] = np.float64(clip.astype(np.float64).sum())
        data[f"{name}/codes"] = np.asarray(codes, dtype=np.int64)  # all clips in one call (one batch)
        data[f"{name}/codes_alone"] = np.asarray(one, dtype=np.int64)  # the clip alone
        data[f"{name}/states_float64"] = st64  # [U, C] pooled states before the lookup, float64 rerun
        data[f"{name}/fp32_error"] = np.float64(np.abs(st - st64).max())  # the reference's own fp32 error
        print(f"{name}: {clip.size / RATE_HZ:.2f} s, {len(codes)} codes ({len(set(codes))} distinct), "
              f"fp32 vs fp64 states max |d| {np.abs(st - st64).max():.2e}, alone == batched {one == codes}")
    from safetensors.torch import load_file

    state = load_file(str(args.tokenizer / "model.safetensors"))
    data["weights_abs_sum"] = np.float64(sum(v.double().abs().sum().item() for v in state.values()))
    data["meta/versions"] = np.asarray(
        [f"torch {torch.__version__}", f"transformers {transformers.__version__}", f"numpy {np.__version__}",
         "GLM-4-Voice eb00ce9142e8d98b0ed7c57cd47e0d6d5dce9a1a"]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **data)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reference numbers for `main.py loss`: the public OpenS2S training forward on a tiny checkpoint.

Reference: CASIA-LM/OpenS2S @ 359565cd (src/modeling_omnispeech.py `OmniSpeechModel.forward`,
src/instruction_dataset.py `process_dataset` + `InstructionDataCollator`, src/feature_extraction_audio.py).
Environment used for tests/reference/reference_training_loss.json: Debian 12, Python 3.11.7, CPU, fp32, eval mode,
no gradients; step 1 with this project's venv (torch 2.13.0, transformers 5.24); step 2 in a separate venv with
torch 2.13.0+cpu, transformers 4.51.3, peft 0.15.2, datasets, fire, soundfile. torchaudio is not installed there: the
clips are 16 kHz mono, so the reference's `get_waveform` reduces to a soundfile read, which step 2 patches in.
Nothing of the reference is stored in this repository; only the numbers are.

    # 1. (project venv, repo root) tiny checkpoint (seed 0, 1:2, 2 shards, as tests/conftest.py) + the parity jsonl
    python scripts/parity/training_loss_reference.py make /tmp/tl
    # 2. (4.51 venv) the reference forward
    git --git-dir=<mirror> archive 359565cd | tar -x -C /tmp/opens2s_ref
    PYTHONPATH=/tmp/opens2s_ref /tmp/ref451/bin/python scripts/parity/training_loss_reference.py reference /tmp/tl \
        tests/reference/reference_training_loss.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def make(out: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint
    from testing.tiny_dataset import write_parity_dataset

    make_tiny_checkpoint(out / "ckpt", TinySpec(), seed=0, shards=2)
    write_parity_dataset(out / "data")


def _fingerprint(ckpt: Path) -> float:
    from safetensors import safe_open

    total = 0.0
    for f in sorted(ckpt.glob("model*.safetensors")):
        with safe_open(str(f), "pt") as h:
            for k in h.keys():
                total += float(h.get_tensor(k).double().abs().sum())
    return total


def reference(work: Path, out_json: Path) -> None:
    import numpy as np
    import soundfile as sf
    import src.instruction_dataset as ds
    import torch
    from safetensors.torch import load_file
    from src.configuration_omnispeech import OmniSpeechConfig
    from src.feature_extraction_audio import WhisperFeatureExtractor
    from src.modeling_omnispeech import OmniSpeechModel
    from transformers import AutoTokenizer, GenerationConfig

    def get_waveform(path, output_sample_rate=16000, **_):
        wav, rate = sf.read(path, dtype="float32", always_2d=True)
        assert rate == output_sample_rate and wav.shape[1] == 1
        return wav[:, 0]

    ds.get_waveform = get_waveform
    ckpt, data = work / "ckpt", work / "data" / "parity.jsonl"
    tok = AutoTokenizer.from_pretrained(str(ckpt))
    tts_tok = AutoTokenizer.from_pretrained(str(ckpt / "tts"))
    raw = json.loads((ckpt / "config.json").read_text())
    model = OmniSpeechModel(OmniSpeechConfig(**{k: v for k, v in raw.items() if k != "model_type"}))
    model.float().eval()  # before loading: from_config builds the sub-models in the config's bf16
    state = {}
    for f in sorted(ckpt.glob("model-*.safetensors")):
        state.update(load_file(str(f)))
    model.load_state_dict(state, strict=True)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    rows = []
    for line in data.read_text().splitlines():
        row = json.loads(line)
        for msg in row["messages"]:
            for item in msg["content"]:
                for key in ("audio", "spk_emb"):
                    if item[key]:
                        item[key] = str(data.parent / item[key])
        rows.append(ds.process_dataset(row, tok, tts_tok))
    assert all(r["to_keep"] for r in rows)
    collator = ds.InstructionDataCollator(
        llm_pad_id=GenerationConfig.from_pretrained(str(ckpt)).pad_token_id,
        tts_lm_pad_id=GenerationConfig.from_pretrained(str(ckpt / "tts")).pad_token_id,
        audio_extractor=WhisperFeatureExtractor.from_pretrained(str(ckpt / "audio")))
    captured = {}
    model.llm_model.register_forward_hook(lambda m, a, o: captured.__setitem__("llm", float(o.loss)))
    model.tts_lm_model.register_forward_hook(lambda m, a, o: captured.__setitem__("tts", float(o.loss)))
    cases = []
    groups = [[i] for i in range(len(rows))] + [[i, i + 1] for i in range(0, len(rows), 2)]
    with torch.no_grad():
        for group in groups:
            batch = collator([rows[i] for i in group])
            loss = float(model(**batch).loss)
            has_units = batch["speech_units"] is not None
            cases.append({"lines": [i + 1 for i in group], "loss": loss, "llm_loss": captured["llm"],
                          "tts_loss": captured["tts"] if has_units else 0.0})
            print(cases[-1])
    out = {"reference": "CASIA-LM/OpenS2S@359565cd", "transformers": __import__("transformers").__version__,
           "torch": torch.__version__, "dtype": "float32", "weights_fingerprint": _fingerprint(ckpt),
           "input_ids_line1": np.asarray(rows[0]["input_ids"]).tolist(), "cases": cases}
    out_json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(Path(sys.argv[2]))
    else:
        reference(Path(sys.argv[2]), Path(sys.argv[3]))

"""LoRA adapter folders (what `train --save-adapter` writes) opened as a checkpoint: a pickled adapter is refused
in one line and never unpickled; a missing or broken part is named."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable

from testing.fuzz import Case
from tests.fuzz.cases_config import reply

A = "adapter folder"
MARKER = "adapter_payload_ran"


class _Payload:
    def __reduce__(self):
        return (open, (MARKER, "w"))


def adapter(**files: bytes | str | None) -> Callable:
    """An adapter folder whose base is a fresh tiny checkpoint, with `files` written into it."""
    def make(kit) -> list[str]:
        base = kit.checkpoint("base")
        folder = kit.folder / "adapter"
        folder.mkdir()
        (folder / "adapter_config.json").write_text(json.dumps({
            "peft_type": "LORA", "base_model_name_or_path": str(base), "r": 2, "lora_alpha": 2,
            "target_modules": ["q_proj"], "task_type": None}))
        for name, content in files.items():
            name = name.replace("__", ".")
            if isinstance(content, bytes):
                (folder / name).write_bytes(content)
            elif content is not None:
                (folder / name).write_text(content)
        return reply(folder)
    return make




PICKLED = pickle.dumps({"base_model.model.layers.0.self_attn.q_proj.lora_A.weight": _Payload()})

CASES = [
    Case(A, "a pickled adapter_model.bin, no safetensors", adapter(adapter_model__bin=PICKLED, bridge__safetensors=b""),
         says=("adapter_model.bin", "never loaded")),
    Case(A, "no bridge.safetensors", adapter(adapter_model__safetensors=b"\0" * 16), says=("bridge.safetensors",)),
    Case(A, "adapter_config.json not JSON", adapter(**{"adapter_config.json": "{"}),
         says=("adapter_config.json",)),
    Case(A, "a garbage adapter_model.safetensors", adapter(adapter_model__safetensors=b"\x10" * 64,
                                                           bridge__safetensors=b"\x10" * 64), says=("adapter",)),
]

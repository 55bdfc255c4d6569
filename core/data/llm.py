"""Dialogue writers: any local Hugging Face causal-LM folder via transformers (one record at a time, an explicit
torch.Generator per record) or vLLM (batched, when installed and a GPU is present). Both return raw text per seed;
`schema.parse_generation` decides what is kept."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from core.data.config import LLMConfig
from core.data.schema import FIELDS, TEXT_FIELDS, chat_messages
from core.data.seeds import Seed, SeedLists
from models.errors import CheckpointError

log = logging.getLogger(__name__)

LABEL_FIELDS = {"user_emotion": "emotions", "user_style": "styles", "assistant_emotion": "reply_emotions"}
FIELD_STOP_CHARS = ('"', "\n")


class DialogueLM(Protocol):
    """Writes one raw answer per seed (the same seed always gives the same answer)."""

    name: str

    def generate(self, seeds: Sequence[Seed]) -> list[str]: ...


def vllm_available() -> bool:
    try:
        import torch
        import vllm  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


def load_dialogue_lm(config: LLMConfig, lists: SeedLists) -> DialogueLM:
    backend = config.backend
    if backend == "auto":
        backend = "vllm" if vllm_available() and config.device.startswith("cuda") else "transformers"
    if backend == "vllm":
        from core.data.llm_vllm import VllmDialogueLM

        return VllmDialogueLM(config, lists)
    return HFDialogueLM(config, lists)


def render_prompt(tokenizer: Any, seed: Seed, lists: SeedLists) -> str:
    messages = chat_messages(seed, lists)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
        )
    return "\n\n".join(m["content"] for m in messages) + "\n\nJSON: "


class HFDialogueLM:
    """transformers backend. guided mode writes the JSON keys itself: the LM fills each text value (up to a quote
    or newline) and picks each label from its list by likelihood; json mode samples the whole answer."""

    name = "transformers"

    def __init__(self, config: LLMConfig, lists: SeedLists) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from core.lm.sampling import LMSampling

        path = Path(config.path)
        if not (path / "config.json").is_file():
            raise CheckpointError(f"llm.path {path}: not a Hugging Face model folder (no config.json)")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(
                str(path), dtype=getattr(torch, config.dtype), local_files_only=True, trust_remote_code=False
            ).to(config.device).eval()
        except (OSError, ValueError, KeyError) as err:
            raise CheckpointError(f"llm.path {path}: cannot load ({str(err).splitlines()[0]})") from None
        self.config, self.lists = config, lists
        greedy = config.temperature == 0
        self.sampling = LMSampling(
            do_sample=not greedy, temperature=config.temperature or 1.0, top_k=config.top_k,
            top_p=config.top_p, repetition_penalty=config.repetition_penalty,
        )
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        self.eos_ids = {i for i in (*eos, self.tokenizer.eos_token_id) if i is not None}

    def generate(self, seeds: Sequence[Seed]) -> list[str]:
        return [self._one(seed) for seed in seeds]

    def _one(self, seed: Seed) -> str:
        import torch

        gen = torch.Generator(device="cpu").manual_seed(seed.rng_seed)
        prompt = render_prompt(self.tokenizer, seed, self.lists)
        if self.config.mode == "json":
            return self._sample(prompt, self.config.max_new_tokens, gen, stop_chars=())
        values: dict[str, str] = {}
        text = prompt + "{"
        for i, key in enumerate(FIELDS):
            text += f'"{key}": "'
            if key in TEXT_FIELDS:
                values[key] = self._sample(text, self.config.max_field_tokens, gen, FIELD_STOP_CHARS).strip()
            else:
                values[key] = self._choose(text, getattr(self.lists, LABEL_FIELDS[key]), gen)
            text += values[key].replace('"', "'") + ('", ' if i < len(FIELDS) - 1 else '"}')
        return json.dumps(values, ensure_ascii=False)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _sample(self, prefix: str, max_new: int, gen: Any, stop_chars: tuple[str, ...]) -> str:
        """Sample up to `max_new` tokens after `prefix`; stop at EOS or at the first of `stop_chars` (cut there)."""
        import torch
        from transformers import DynamicCache

        from core.lm.sampling import next_token

        ids = self._encode(prefix)
        device = self.model.device
        cache = DynamicCache()
        new: list[int] = []
        step = torch.tensor([ids], device=device)  # [1, T]
        with torch.inference_mode():
            for _ in range(max_new):
                out = self.model(input_ids=step, cache=cache, use_cache=True)
                logits = out.logits[0, -1]  # [V]
                if stop_chars:  # a text field: only tokens that spell plain speakable text (or the stop)
                    logits = logits.masked_fill(~self._speakable(logits.numel()), float("-inf"))
                tok = next_token(logits, self.sampling, gen, ids + new)
                if tok in self.eos_ids:
                    break
                new.append(tok)
                text = self.tokenizer.decode(new, skip_special_tokens=True)
                cut = min((text.find(c) for c in stop_chars if c in text), default=-1)
                if cut >= 0:
                    return text[:cut]
                if not stop_chars and "}" in text and _closes_object(text):
                    return text
                step = torch.tensor([[tok]], device=device)
        return self.tokenizer.decode(new, skip_special_tokens=True)

    def _speakable(self, n_logits: int) -> Any:
        """[V] bool: tokens whose text is printable, in the allowed alphabet and free of markup characters."""
        if getattr(self, "_mask", None) is None or self._mask.numel() != n_logits:
            import torch

            special = set(self.tokenizer.all_special_ids)
            mask = torch.zeros(n_logits, dtype=torch.bool)
            for i in range(min(n_logits, len(self.tokenizer))):
                if i not in special:
                    mask[i] = speakable_piece(self.tokenizer.decode([i]), self.config.alphabet)
            self._mask = mask.to(self.model.device)
        return self._mask

    def _choose(self, prefix: str, options: tuple[str, ...], gen: Any) -> str:
        """Pick one label: each option's log-likelihood after `prefix` (closing quote included), then a draw."""
        import torch

        head = self._encode(prefix)
        tails = [self._encode(option + '"') for option in options]
        width = len(head) + max(len(t) for t in tails)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        batch = torch.full((len(options), width), pad, dtype=torch.long)  # [n_options, T]
        mask = torch.zeros_like(batch)
        for row, tail in enumerate(tails):
            seq = head + tail
            batch[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        with torch.inference_mode():
            logits = self.model(input_ids=batch.to(self.model.device), attention_mask=mask.to(self.model.device))
        logp = torch.log_softmax(logits.logits.float().cpu(), dim=-1)  # [n_options, T, V]
        scores = torch.stack([
            sum(logp[row, len(head) + j - 1, tok] for j, tok in enumerate(tail)) for row, tail in enumerate(tails)
        ])  # [n_options]
        if not self.sampling.do_sample:
            return options[int(torch.argmax(scores))]
        probs = torch.softmax(scores / self.sampling.temperature, dim=0)
        return options[int(torch.multinomial(probs, 1, generator=gen))]


_MARKUP_CHARS = set("{}<>[]|\\`*#_~^=@$%&")


def speakable_piece(piece: str, alphabet: str) -> bool:
    """A token's text may appear in a spoken turn: no replacement or control characters, no markup characters, and
    for the "ascii" alphabet ASCII only (quote and newline pass: they end a field)."""
    if not piece or "\ufffd" in piece:
        return False
    for c in piece:
        if c == "\n":
            continue
        if not c.isprintable() or c in _MARKUP_CHARS or (alphabet == "ascii" and not c.isascii()):
            return False
    return True


def _closes_object(text: str) -> bool:
    start = text.find("{")
    if start < 0:
        return False
    try:
        json.JSONDecoder().raw_decode(text, start)
        return True
    except json.JSONDecodeError:
        return False

"""Per-turn decoding state for one causal LM: its KV cache and pending (not yet fed) input embeddings.

One `step()` feeds everything pending in a single forward and returns the last position's final-norm hidden state
and logits. The weights stay in the module; this object holds only the turn's state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import DynamicCache, PreTrainedModel

LogitsSink = Callable[[str, torch.Tensor], None]  # (lm name, logits [V] float32)


class LMSession:
    def __init__(self, name: str, lm: PreTrainedModel, logits_sink: LogitsSink | None = None,
                 cache: DynamicCache | None = None, n_cached: int = 0):
        self.name = name
        self._lm = lm
        self.cache = cache if cache is not None else DynamicCache(config=lm.config)
        self._pending: list[torch.Tensor] = []  # each [1, T, H]
        self._sink = logits_sink
        self.n_positions = n_cached  # positions already in the cache

    def feed(self, embeds: torch.Tensor) -> None:
        """Queue input embeddings [1, T, H] for the next step."""
        self._pending.append(embeds)

    def feed_token(self, token_id: int) -> None:
        device = self._lm.lm_head.weight.device
        ids = torch.tensor([[token_id]], device=device)
        self._pending.append(self._lm.get_input_embeddings()(ids))  # [1, 1, H]

    @torch.inference_mode()
    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the pending inputs. Returns (hidden [1, H] after the final norm, logits [V] float32)."""
        embeds = torch.cat(self._pending, dim=1) if len(self._pending) > 1 else self._pending[0]  # [1, T, H]
        self._pending.clear()
        out = self._lm.model(inputs_embeds=embeds, cache=self.cache, use_cache=True)
        self.n_positions += embeds.shape[1]
        hidden = out.last_hidden_state[:, -1]  # [1, H]
        logits = self._lm.lm_head(hidden)[0].float()  # [V]
        if self._sink is not None:
            self._sink(self.name, logits)
        return hidden, logits

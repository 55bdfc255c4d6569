"""The training forward: LLM loss on the text labels + TTS loss on the units (spec section 5), as sums and counts.

    audio clips -> encoder windows -> (batched, truncated to the longest clip) adapter -> spliced at each -200
    LLM over [text | clip embeddings | text ...]; CE on labels shifted by one
    TTS input per speech item: spk_ln(spk2tts(spk)), then ts LLM states (llm_ln(llm2tts(h))) of the
    <|im_tts_start|>..<|im_tts_end|> span, ss unit embeddings, ... ; CE on the units (+EOS) shifted by one

Batched audio follows the reference: a shorter clip's adapter convolutions see the encoder frames of its own padded
tail up to the batch's longest clip (so its embeddings depend on the batch), exactly as training saw them.
Losses come back as sums over targets plus target counts, so a step can be normalised by the tokens of the whole
global batch (any split across processes or micro-batches gives the same update), and `means()` gives the reference's
per-batch numbers (token means; TTS 0 when the batch has no units, where the reference adds its dummy pass x0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from core.training.collate import Batch
from core.training.encode import IGNORE_INDEX
from models.opens2s import (
    ENCODER_FRAMES_PER_WINDOW_OUT,
    ENCODER_WINDOW_FRAMES,
    OpenS2SModel,
    conv_out_len,
    encoder_out_len,
)
from models.special_tokens import AUDIO_TOKEN_INDEX


@dataclass(frozen=True)
class LossSums:
    llm_sum: torch.Tensor  # scalar, summed token cross-entropy
    llm_count: int
    tts_sum: torch.Tensor
    tts_count: int

    def means(self) -> dict[str, float]:
        llm = float(self.llm_sum) / max(self.llm_count, 1)
        tts = float(self.tts_sum) / self.tts_count if self.tts_count else 0.0
        return {"loss": llm + tts, "llm_loss": llm, "tts_loss": tts}


def base_causal_lm(lm: nn.Module) -> nn.Module:
    """The transformers causal LM under a peft wrapper (or `lm` itself)."""
    return lm.get_base_model() if hasattr(lm, "get_base_model") else lm


def encode_clips(model: OpenS2SModel, values: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
    """[N, 128, T] features + [N, T] frame mask -> one [n_i, H_llm] embedding block per clip (batched adapter)."""
    n, bins, total = values.shape
    frames = mask.sum(-1).tolist()
    segments = [-(-f // ENCODER_WINDOW_FRAMES) for f in frames]
    windows = values.reshape(n, bins, total // ENCODER_WINDOW_FRAMES, ENCODER_WINDOW_FRAMES).transpose(1, 2)
    keep = torch.tensor([[w < s for w in range(windows.shape[1])] for s in segments], device=values.device)
    hidden = model.audio_encoder_model(windows[keep]).last_hidden_state  # [M, 750, C_enc]
    enc_lens, rows, start = [], [], 0
    for f, s in zip(frames, segments, strict=True):
        per_window = [min(ENCODER_WINDOW_FRAMES, f - w * ENCODER_WINDOW_FRAMES) for w in range(s)]
        enc_lens.append(sum(encoder_out_len(x) for x in per_window))
        rows.append(hidden[start:start + s].reshape(s * ENCODER_FRAMES_PER_WINDOW_OUT, -1))
        start += s
    width = max(enc_lens)
    padded = torch.stack([F.pad(r, (0, 0, 0, max(0, width - r.shape[0])))[:width] for r in rows])  # [N, W, C]
    out = model.audio_adapter(padded)  # [N, W', H_llm]
    lens = enc_lens
    for _ in model.audio_adapter.subsampler.conv_layers:
        lens = [conv_out_len(x) for x in lens]
    return [out[i, :n_i] for i, n_i in enumerate(lens)]


def splice(model: OpenS2SModel, batch: Batch, clips: list[torch.Tensor]):
    """Text embeddings with clip embeddings at the sentinels; right-padded.
    Returns embeds [B, L', H], attention mask [B, L'], labels [B, L'], token types [B, L']."""
    embed = base_causal_lm(model.llm_model).get_input_embeddings()
    text = embed(batch.input_ids.clamp(min=0))  # [B, L, H]; sentinel rows are replaced below
    clip_iter = iter(clips)
    rows = []
    for b in range(batch.input_ids.shape[0]):
        valid = batch.attention_mask[b].bool()
        ids, emb = batch.input_ids[b][valid], text[b][valid]
        labels, types = batch.labels[b][valid], batch.token_types[b][valid]
        cuts = [-1] + (ids == AUDIO_TOKEN_INDEX).nonzero().flatten().tolist() + [ids.shape[0]]
        e_parts, l_parts, t_parts = [], [], []
        for k in range(len(cuts) - 1):
            lo, hi = cuts[k] + 1, cuts[k + 1]
            e_parts.append(emb[lo:hi])
            l_parts.append(labels[lo:hi])
            t_parts.append(types[lo:hi])
            if k < len(cuts) - 2:
                clip = next(clip_iter)
                e_parts.append(clip.to(emb.dtype))
                l_parts.append(labels.new_full((clip.shape[0],), IGNORE_INDEX))
                t_parts.append(types.new_zeros(clip.shape[0]))
        rows.append((torch.cat(e_parts), torch.cat(l_parts), torch.cat(t_parts)))
    if next(clip_iter, None) is not None:
        raise ValueError("internal: more clips than audio slots in the batch")
    width = max(r[0].shape[0] for r in rows)
    embeds = torch.stack([F.pad(e, (0, 0, 0, width - e.shape[0])) for e, _, _ in rows])
    mask = torch.stack([F.pad(torch.ones_like(lab), (0, width - lab.shape[0])) for _, lab, _ in rows])
    labels = torch.stack([F.pad(lab, (0, width - lab.shape[0]), value=IGNORE_INDEX) for _, lab, _ in rows])
    types = torch.stack([F.pad(t, (0, width - t.shape[0]), value=IGNORE_INDEX) for _, _, t in rows])
    return embeds, mask, labels, types


def _shifted_ce_sum(lm: nn.Module, hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Sum of next-token cross-entropy over labelled positions; the head runs only on those rows (float32 CE)."""
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX  # [B, L-1]
    logits = lm.lm_head(hidden[:, :-1][keep])  # [K, V]
    return F.cross_entropy(logits.float(), targets[keep], reduction="sum"), int(keep.sum())


def tts_inputs(model: OpenS2SModel, hidden: torch.Tensor, types: torch.Tensor, batch: Batch):
    """The TTS LM's interleaved input per speech item. Returns embeds [N, T, H_tts], mask [N, T], labels [N, T]."""
    proj = model.project_to_tts(hidden)  # [B, L, H_tts]
    tts = model.tts_lm_model
    spk = tts.spk_ln(tts.spk2tts(batch.spk_embs.to(proj.dtype)))  # [N, 1, H_tts]
    unit_emb = tts.get_input_embeddings()(batch.units)  # [N, U, H_tts]
    spans = []
    for b in range(types.shape[0]):
        inside = torch.cat([types.new_zeros(1), (types[b] == 1).long(), types.new_zeros(1)])
        edges = inside[1:] - inside[:-1]
        starts, ends = (edges == 1).nonzero().flatten().tolist(), (edges == -1).nonzero().flatten().tolist()
        spans += [(b, s, e) for s, e in zip(starts, ends, strict=True)]
    if len(spans) != batch.units.shape[0]:
        raise ValueError(f"internal: {len(spans)} speech spans but {batch.units.shape[0]} unit sequences")
    ts, ss = model.config.text_span, model.config.speech_span
    rows = []
    for i, (b, s, e) in enumerate(spans):
        text, n_units = proj[b, s:e], int(batch.units_mask[i].sum())
        parts, labels = [spk[i]], [batch.units.new_full((1,), IGNORE_INDEX)]
        t = u = 0
        while t < text.shape[0] or u < n_units:
            if t < text.shape[0]:
                parts.append(text[t:t + ts])
                labels.append(batch.units.new_full((parts[-1].shape[0],), IGNORE_INDEX))
                t += ts
            if u < n_units:
                parts.append(unit_emb[i, u:min(u + ss, n_units)])
                labels.append(batch.units[i, u:min(u + ss, n_units)])
                u += ss
        rows.append((torch.cat(parts), torch.cat(labels)))
    width = max(r[0].shape[0] for r in rows)
    embeds = torch.stack([F.pad(x, (0, 0, 0, width - x.shape[0])) for x, _ in rows])
    mask = torch.stack([F.pad(torch.ones_like(lab), (0, width - lab.shape[0])) for _, lab in rows])
    labels = torch.stack([F.pad(lab, (0, width - lab.shape[0]), value=IGNORE_INDEX) for _, lab in rows])
    return embeds, mask, labels


def batch_losses(model: OpenS2SModel, batch: Batch) -> LossSums:
    """Summed LLM and TTS cross-entropies of one batch (already on the model's device)."""
    clips = encode_clips(model, batch.speech_values, batch.speech_mask) if batch.speech_values is not None else []
    embeds, mask, labels, types = splice(model, batch, clips)
    llm = base_causal_lm(model.llm_model)
    hidden = llm.model(inputs_embeds=embeds, attention_mask=mask, use_cache=False).last_hidden_state  # [B, L, H]
    llm_sum, llm_count = _shifted_ce_sum(llm, hidden, labels)
    if batch.units is None:
        return LossSums(llm_sum, llm_count, llm_sum.new_zeros(()), 0)
    t_embeds, t_mask, t_labels = tts_inputs(model, hidden, types, batch)
    tts = model.tts_lm_model
    t_hidden = tts.model(inputs_embeds=t_embeds, attention_mask=t_mask, use_cache=False).last_hidden_state
    tts_sum, tts_count = _shifted_ce_sum(tts, t_hidden, t_labels)
    return LossSums(llm_sum, llm_count, tts_sum, tts_count)

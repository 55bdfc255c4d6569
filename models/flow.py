"""GLM-4-Voice flow: speech units -> 80-bin mel frames at 22050 Hz / hop 256.

unit embedding -> block-causal conformer encoder -> projection to 80 -> length regulator (nearest resample to
F frames + conv stack) -> conditional flow matching (Euler, cosine time grid, classifier-free guidance) with
the prompt mel as the condition of its first P frames. Noise comes from the caller: either the tensor itself
or a `torch.Generator`; the global RNG is never touched. `should_stop()` is asked before every Euler step: when it
says True the solver raises `FlowCancelled`, so a cancel lands within one step (one estimator call, batch of 2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

from models.decoder_config import FlowConfig
from models.flow_encoder import BlockConformerEncoder
from models.flow_estimator import FlowEstimator
from models.glm_constants import FLOW_STEPS, MEL_HOP_SAMPLES, SAMPLE_RATE_HZ

log = logging.getLogger(__name__)

# est(x, mu, t, spks, cond) -> v; the torch module or an ONNX session wrapper with the same signature.
EstimatorFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
StopFn = Callable[[], bool]


class FlowCancelled(Exception):
    """The caller's `should_stop()` said True between two Euler steps; no mel was produced."""


def mel_frames_for_units(n_units: int, unit_rate_hz: float) -> int:
    """Mel frame count F for N units, computed like the reference (float32 tensor arithmetic, truncated)."""
    n = torch.tensor([n_units], dtype=torch.int32)
    return int((n / unit_rate_hz * SAMPLE_RATE_HZ / MEL_HOP_SAMPLES).int().item())


def time_grid(n_steps: int, scheduler: str = "cosine") -> torch.Tensor:
    """[n_steps + 1] times from 0 to 1; `cosine`: t_i = 1 - cos(pi/2 * i/n)."""
    t = torch.linspace(0, 1, n_steps + 1)
    return 1 - torch.cos(t * 0.5 * torch.pi) if scheduler == "cosine" else t


class LengthRegulator(nn.Module):
    """[B, N, 80] -> [B, F, 80]: nearest resample, `stages` x (Conv1d k3, GroupNorm, Mish), Conv1d k1."""

    def __init__(self, channels: int, stages: int, groups: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(stages):
            layers += [
                nn.Conv1d(channels, channels, 3, 1, 1),
                nn.GroupNorm(groups, channels),
                nn.Mish(),
            ]
        layers.append(nn.Conv1d(channels, channels, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor, n_frames: int) -> torch.Tensor:
        x = nn.functional.interpolate(
            h.transpose(1, 2).contiguous(), size=n_frames, mode="nearest"
        )  # [B, 80, F]
        return self.model(x).transpose(1, 2).contiguous()  # [B, F, 80]


class FlowModel(nn.Module):
    """State-dict compatible with the released `flow.pt`; see `inference` for the entry point."""

    def __init__(self, cfg: FlowConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.input_embedding = nn.Embedding(cfg.vocab_size, cfg.input_size)
        self.spk_embed_affine_layer = nn.Linear(cfg.spk_embed_dim, cfg.output_size)
        self.encoder = BlockConformerEncoder(cfg.encoder)
        self.encoder_proj = nn.Linear(cfg.encoder.d_model, cfg.output_size)
        self.length_regulator = LengthRegulator(cfg.output_size, cfg.regulator_stages, cfg.regulator_groups)
        self.decoder = nn.Module()
        self.decoder.estimator = FlowEstimator(cfg.estimator)
        self.eval()

    def frames_for(self, n_units: int) -> int:
        return mel_frames_for_units(n_units, self.cfg.input_frame_rate)

    def encode(self, units: torch.Tensor) -> torch.Tensor:
        """[1, N] unit ids (negatives clamped to 0) -> [1, N, D] encoder output (after its final norm)."""
        return self.encoder(self.input_embedding(torch.clamp(units.long(), min=0)))

    def condition(self, units: torch.Tensor) -> torch.Tensor:
        """[1, N] unit ids -> [1, 80, F] flow condition mu (encoder, projection, length regulator)."""
        n_frames = self.frames_for(units.shape[1])
        return self.length_regulator(self.encoder_proj(self.encode(units)), n_frames).transpose(1, 2)

    def speaker_vector(self, embedding: torch.Tensor | None) -> torch.Tensor:
        """[1, 192] x-vector (zeros when None, as the reference) -> [1, 80] (L2-normalised, then affine)."""
        weight = self.spk_embed_affine_layer.weight
        if embedding is None:
            embedding = torch.zeros(1, self.cfg.spk_embed_dim)
        return self.spk_embed_affine_layer(nn.functional.normalize(embedding.to(weight), dim=1))

    def draw_noise(self, n_frames: int, generator: torch.Generator | None) -> torch.Tensor:
        """[1, 80, F] standard normal noise from the caller's generator (a fresh unseeded one when None)."""
        if generator is None:
            generator = torch.Generator()
            generator.seed()  # non-deterministic, and private to this call
        return torch.randn(1, self.cfg.output_size, n_frames, generator=generator)

    @torch.inference_mode()
    def inference(
        self,
        token: torch.Tensor,
        prompt_token: torch.Tensor | None = None,
        prompt_feat: torch.Tensor | None = None,
        embedding: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        estimator: EstimatorFn | None = None,
        n_timesteps: int = FLOW_STEPS,
        should_stop: StopFn | None = None,
    ) -> torch.Tensor:
        """Mel for `token` [1, N] after `prompt_token` [1, Np] whose mel `prompt_feat` [1, P, 80] is known.

        Returns [1, 80, F - P] with F = frames_for(Np + N). `noise`: [1, 80, F] initial flow state z (else
        drawn from `generator`). `estimator`: optional replacement of the U-Net (e.g. an ONNX session).
        `should_stop`: asked before each Euler step; True raises FlowCancelled.
        """
        prompt_token = token[:, :0] if prompt_token is None else prompt_token
        prompt_feat = torch.zeros(1, 0, self.cfg.output_size) if prompt_feat is None else prompt_feat
        token = token.to(self.input_embedding.weight.device)
        units = torch.cat([prompt_token.to(token.device).long(), token.long()], dim=1)  # [1, Np + N]
        n_frames = self.frames_for(units.shape[1])
        n_prompt = prompt_feat.shape[1]
        if n_prompt > n_frames:
            raise ValueError(f"prompt has {n_prompt} mel frames but prompt+units give only {n_frames}")
        mu = self.condition(units)  # [1, 80, F]
        cond = torch.zeros_like(mu)
        cond[:, :, :n_prompt] = prompt_feat.to(mu).transpose(1, 2)
        z = self.draw_noise(n_frames, generator) if noise is None else noise.to(mu)
        if tuple(z.shape) != tuple(mu.shape):
            raise ValueError(f"noise must be {tuple(mu.shape)}, got {tuple(z.shape)}")
        spks = self.speaker_vector(embedding).to(mu)
        mel = self.solve(z, mu, spks, cond, estimator or self.decoder.estimator, n_timesteps, should_stop)
        return mel[:, :, n_prompt:]

    def solve(
        self,
        z: torch.Tensor,
        mu: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        estimator: EstimatorFn,
        n_timesteps: int = FLOW_STEPS,
        should_stop: StopFn | None = None,
    ) -> torch.Tensor:
        """Euler integration from t=0 (z) to t=1 with guidance v = (1+r) v(mu, spk, cond) - r v(0, 0, 0).
        Raises FlowCancelled before a step when `should_stop()` is True."""
        rate = self.cfg.inference_cfg_rate
        grid = time_grid(n_timesteps, self.cfg.t_scheduler).to(mu)
        x, t, dt = z, grid[0], grid[1] - grid[0]
        # Conditional and unconditional passes run as one batch of 2.
        mu2, spks2, cond2 = (torch.cat([a, torch.zeros_like(a)]) for a in (mu, spks, cond))
        for step in range(1, len(grid)):
            if should_stop is not None and should_stop():
                raise FlowCancelled(f"flow cancelled before step {step} of {len(grid) - 1}")
            v = estimator(torch.cat([x, x]), mu2, t.reshape(1).expand(2), spks2, cond2)  # [2, 80, F]
            x = x + dt * ((1.0 + rate) * v[:1] - rate * v[1:])
            t = t + dt
            if step < len(grid) - 1:
                dt = grid[step + 1] - t
        return x

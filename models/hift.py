"""HiFT vocoder (neural source filter + iSTFT head): 80-bin mel -> 22050 Hz waveform, 256 samples per frame.

mel -> F0 predictor -> F0 upsampled to the sample rate -> harmonic sine source (fundamental + overtones,
random initial phases, additive noise, merged by Linear + tanh) -> STFT of the source feeds every upsampling
stage of the mel path (ConvTranspose + Snake ResBlocks) -> log-magnitude / phase -> inverse STFT.

Randomness (initial phases, additive noise) is injectable or drawn from the caller's `torch.Generator`.
`body()` is the deterministic conv part (exported to ONNX); STFT, iSTFT and the source stay in torch.
State-dict names follow the released `hift.pt`, weight-normed convs as legacy `weight_g`/`weight_v`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from models.decoder_config import HiftConfig
from models.weight_norm import WNConv1d, WNConvTranspose1d

log = logging.getLogger(__name__)

F0_LAYERS = 5
FINAL_LRELU_SLOPE = 0.01  # the reference's last leaky ReLU uses PyTorch's default slope, not lrelu_slope
MAX_MAGNITUDE = 1e2
SNAKE_EPS = 1e-9


def _padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class Snake(nn.Module):
    """x + sin^2(alpha x) / alpha, one alpha per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        alpha = self.alpha.unsqueeze(0).unsqueeze(-1)
        return x + (1.0 / (alpha + SNAKE_EPS)) * torch.pow(torch.sin(x * alpha), 2)


class ResBlock(nn.Module):
    """Sum of (Snake, dilated conv, Snake, conv) residual branches."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            WNConv1d(channels, channels, kernel, 1, dilation=d, padding=_padding(kernel, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            WNConv1d(channels, channels, kernel, 1, dilation=1, padding=_padding(kernel)) for _ in dilations
        )
        self.activations1 = nn.ModuleList(Snake(channels) for _ in dilations)
        self.activations2 = nn.ModuleList(Snake(channels) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for act1, conv1, act2, conv2 in zip(
            self.activations1, self.convs1, self.activations2, self.convs2, strict=True
        ):
            x = conv2(act2(conv1(act1(x)))) + x
        return x


class F0Predictor(nn.Module):
    """[B, 80, T] mel -> [B, T] F0 in Hz (5 x weight-normed conv k3 + ELU, Linear, abs)."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(F0_LAYERS):
            layers += [WNConv1d(in_channels if i == 0 else channels, channels, 3, padding=1), nn.ELU()]
        self.condnet = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, 1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return torch.abs(self.classifier(self.condnet(mel).transpose(1, 2)).squeeze(-1))


class SourceMerge(nn.Module):
    """`m_source.l_linear`: merges the harmonics into one excitation."""

    def __init__(self, n_harmonics: int) -> None:
        super().__init__()
        self.l_linear = nn.Linear(n_harmonics, 1)


@dataclass(frozen=True)
class SourceNoise:
    """The random inputs of one HiFT call; shapes for batch B and L = 256 * mel frames samples.

    phases: [B, H+1, 1] initial phase (radians) per harmonic (H+1 = nb_harmonics + 1 = 9 for the release).
        The fundamental's (index 0) is forced to 0 like the reference unless `keep_fundamental_phase`.
    sine_noise: [B, H+1, L] standard normal; scaled inside by nsf_sigma (voiced) or nsf_alpha/3 (unvoiced).
    """

    phases: torch.Tensor
    sine_noise: torch.Tensor
    keep_fundamental_phase: bool = False

    def effective_phases(self) -> torch.Tensor:
        if self.keep_fundamental_phase:
            return self.phases
        phases = self.phases.clone()
        phases[:, 0, :] = 0
        return phases


@dataclass(frozen=True)
class HiftParts:
    """Replacements for the deterministic sub-networks: f0(mel [B,80,T]) -> [B,T]; body(mel, stft) -> spec."""

    f0: Callable[[torch.Tensor], torch.Tensor]
    body: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class HiftGenerator(nn.Module):
    def __init__(self, cfg: HiftConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_bins = cfg.n_fft // 2 + 1
        self.f0_predictor = F0Predictor(cfg.in_channels, cfg.f0_cond_channels)
        self.m_source = SourceMerge(cfg.nb_harmonics + 1)
        self.conv_pre = WNConv1d(cfg.in_channels, cfg.base_channels, 7, 1, padding=3)
        widths = [cfg.base_channels // (2 ** (i + 1)) for i in range(len(cfg.upsample_rates))]
        self.ups = nn.ModuleList(
            WNConvTranspose1d(cfg.base_channels // (2**i), widths[i], k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes, strict=True))
        )
        self.source_downs = nn.ModuleList(self._source_downs(widths, 2 * n_bins))
        self.source_resblocks = nn.ModuleList(
            ResBlock(widths[i], k, d)
            for i, (k, d) in enumerate(
                zip(cfg.source_resblock_kernel_sizes, cfg.source_resblock_dilation_sizes, strict=True)
            )
        )
        self.resblocks = nn.ModuleList(
            ResBlock(w, k, d)
            for w in widths
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True)
        )
        self.conv_post = WNConv1d(widths[-1], 2 * n_bins, 7, 1, padding=3)
        self.eval()

    def _source_downs(self, widths: list[int], in_ch: int) -> list[nn.Module]:
        rates = [1, *self.cfg.upsample_rates[::-1][:-1]]
        cumulative = [math.prod(rates[: i + 1]) for i in range(len(rates))][::-1]
        return [
            nn.Conv1d(in_ch, w, 1, 1) if u == 1 else nn.Conv1d(in_ch, w, u * 2, u, padding=u // 2)
            for u, w in zip(cumulative, widths, strict=True)
        ]

    @property
    def n_harmonics(self) -> int:
        return self.cfg.nb_harmonics + 1

    def draw_noise(self, batch: int, n_samples: int, generator: torch.Generator | None) -> SourceNoise:
        """Phases ~ U(-pi, pi) (fundamental's set to 0, as the reference), then unit normal sine noise."""
        if generator is None:
            generator = torch.Generator()
            generator.seed()
        low, high = torch.tensor(-math.pi), torch.tensor(math.pi)
        phases = low + torch.rand(batch, self.n_harmonics, 1, generator=generator) * (high - low)
        phases[:, 0, :] = 0
        noise = torch.randn(batch, self.n_harmonics, n_samples, generator=generator)
        return SourceNoise(phases, noise)

    def harmonic_cycles(self, f0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, T] F0 -> ([B, 1, L] F0 per sample, [B, H+1, L] phase per harmonic in cycles mod 1)."""
        f0_up = nn.functional.interpolate(
            f0[:, None], scale_factor=self.cfg.samples_per_frame, mode="nearest"
        )
        ratio = torch.arange(1, self.n_harmonics + 1, dtype=f0_up.dtype, device=f0_up.device).view(1, -1, 1)
        return f0_up, torch.cumsum(f0_up * ratio / self.cfg.sampling_rate_hz, dim=-1) % 1

    def harmonic_source(self, f0: torch.Tensor, noise: SourceNoise) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, T] F0 -> ([B, 1, L] excitation, [B, H+1, L] phase in cycles before the initial phase)."""
        cfg = self.cfg
        f0_up, cycles = self.harmonic_cycles(f0)
        sines = cfg.nsf_alpha * torch.sin(2 * math.pi * cycles + noise.effective_phases().to(f0_up))
        voiced = (f0_up > cfg.nsf_voiced_threshold).float()  # [B, 1, L]
        noise_amp = voiced * cfg.nsf_sigma + (1 - voiced) * cfg.nsf_alpha / 3
        sines = sines * voiced + noise_amp * noise.sine_noise.to(f0_up)
        source = torch.tanh(self.m_source.l_linear(sines.transpose(1, 2))).transpose(1, 2)  # [B, 1, L]
        return source, cycles

    def predict_f0(self, mel: torch.Tensor, parts: HiftParts | None = None) -> torch.Tensor:
        """[B, 80, T] mel -> [B, T] F0 in Hz."""
        return (parts.f0 if parts else self.f0_predictor)(mel)

    def stft(self, source: torch.Tensor) -> torch.Tensor:
        """[B, 1, L] -> [B, n_fft + 2, L / hop + 1] (real bins, then imaginary bins)."""
        spec = torch.stft(
            source.squeeze(1),
            self.cfg.n_fft,
            self.cfg.hop_len,
            self.cfg.n_fft,
            window=_hann(self.cfg.n_fft, source.device),
            return_complex=True,
        )
        return torch.cat([spec.real, spec.imag], dim=1)

    def body(self, mel: torch.Tensor, source_stft: torch.Tensor) -> torch.Tensor:
        """Deterministic conv net: [B, 80, T], [B, n_fft+2, 64T+1] -> [B, n_fft+2, 64T+1] (logmag|phase)."""
        x = self.conv_pre(mel)
        n_kernels = len(self.cfg.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up(nn.functional.leaky_relu(x, self.cfg.lrelu_slope))
            if i == len(self.ups) - 1:
                x = nn.functional.pad(x, (1, 0), mode="reflect")
            x = x + self.source_resblocks[i](self.source_downs[i](source_stft))
            total = self.resblocks[i * n_kernels](x)
            for j in range(1, n_kernels):
                total = total + self.resblocks[i * n_kernels + j](x)
            x = total / n_kernels
        return self.conv_post(nn.functional.leaky_relu(x, FINAL_LRELU_SLOPE))

    def istft(self, spec: torch.Tensor) -> torch.Tensor:
        """[B, n_fft + 2, frames] body output -> [B, L] waveform in [-audio_limit, audio_limit]."""
        n_bins = self.cfg.n_fft // 2 + 1
        magnitude = torch.clip(torch.exp(spec[:, :n_bins]), max=MAX_MAGNITUDE)
        phase = torch.sin(spec[:, n_bins:])
        complex_spec = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        audio = torch.istft(
            complex_spec,
            self.cfg.n_fft,
            self.cfg.hop_len,
            self.cfg.n_fft,
            window=_hann(self.cfg.n_fft, spec.device),
        )
        return torch.clamp(audio, -self.cfg.audio_limit, self.cfg.audio_limit)

    @torch.inference_mode()
    def synthesize(
        self,
        mel: torch.Tensor,
        cache_source: torch.Tensor | None,
        noise: SourceNoise,
        parts: HiftParts | None = None,
        f0: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like `inference` (with `f0` [B, T] if already predicted), also returning the [B, H+1, L] harmonic
        phase in cycles (see `harmonic_cycles`) for phase carry-over between chunks."""
        f0 = self.predict_f0(mel, parts) if f0 is None else f0  # [B, T]
        source, cycles = self.harmonic_source(f0, noise)
        if cache_source is not None and cache_source.shape[-1] > 0:
            source[:, :, : cache_source.shape[-1]] = cache_source
        spec = (parts.body if parts else self.body)(mel, self.stft(source))
        return self.istft(spec), source, cycles

    @torch.inference_mode()
    def inference(
        self,
        mel: torch.Tensor,
        cache_source: torch.Tensor | None = None,
        noise: SourceNoise | None = None,
        generator: torch.Generator | None = None,
        parts: HiftParts | None = None,
        *,
        phases: torch.Tensor | None = None,
        sine_noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, 80, T] mel -> ([B, 256T] audio, [B, 1, 256T] source).

        `cache_source` [B, 1, C] replaces the first C source samples. Noise: `noise` (a `SourceNoise`), or
        `phases` [B, H+1, 1] and/or `sine_noise` [B, H+1, 256T] (whatever is not given is drawn from
        `generator`, phases first). `parts` optionally replaces the F0 predictor and the conv body (ONNX).
        """
        n_samples = mel.shape[-1] * self.cfg.samples_per_frame
        if noise is None:
            noise = self.draw_noise(mel.shape[0], n_samples, generator)
            noise = SourceNoise(
                noise.phases if phases is None else phases,
                noise.sine_noise if sine_noise is None else sine_noise,
            )
        audio, source, _ = self.synthesize(mel, cache_source, noise, parts)
        return audio, source

    def forward(
        self,
        mel: torch.Tensor,
        cache_source: torch.Tensor | None = None,
        noise: SourceNoise | None = None,
        generator: torch.Generator | None = None,
        **noise_tensors: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Same as `inference` (`phases=`, `sine_noise=` accepted as keywords)."""
        return self.inference(mel, cache_source, noise, generator, **noise_tensors)


def _hann(n_fft: int, device: torch.device) -> torch.Tensor:
    """Periodic Hann window computed in float64 then cast (like scipy's get_window(..., fftbins=True))."""
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float64).float().to(device)

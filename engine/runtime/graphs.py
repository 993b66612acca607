"""The stylizer's networks as exportable graphs: what is exported, with which names and dynamic axes.

One table (``graph_specs``) serves the ONNX exporter, the onnxruntime backend and the TensorRT
builder, so the three can never disagree on an input name or which axis is dynamic.

The wrappers exist because a traced graph keeps no Python control flow:

* the models pad to a multiple inside ``forward`` behind an ``if``; the graphs take inputs that
  are already padded (engine.runtime.base.pad_frames does it for every backend);
* the VAE encoder graph returns the posterior mean only (inference never samples it);
* the vocoder's inverse STFT uses complex tensors, ``irfft`` and ``fold``, which neither the
  TorchScript ONNX exporter nor TensorRT take; ``VocoderGraph`` computes the same iSTFT with real
  arithmetic: the inverse real DFT times the window is one fixed basis, so windowed overlap-add
  is a single ``conv_transpose1d`` over the (real, imaginary) spectrum, and the window envelope
  is another. Parity with the torch vocoder is a test (tests/runtime).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.diffusion.config import StylizerConfig

GRAPH_NAMES = ("unet", "vae_encoder", "vae_decoder", "vocoder", "condition")
# The training window: 2.56 s = 256 mel frames = 64 latent frames (engine.stylize.renderer).
WINDOW_MEL_FRAMES = 256


@dataclass(frozen=True)
class GraphSpec:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)
    # Per input: the axes' sizes at the typical call (TensorRT's "opt" and the export example).
    typical_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # Size multiple the dynamic frame axis must keep (the graph has no padding of its own).
    frame_multiple: int = 1


def graph_specs(config: StylizerConfig) -> dict[str, GraphSpec]:
    c, v, u, cc = config.vae.latent_channels, config.vae, config.unet, config.condition
    mels = config.mel.n_mels
    down = v.downsample_factor
    lat_f = math.ceil(mels / down)
    lat_f += -lat_f % u.size_multiple
    lat_t = WINDOW_MEL_FRAMES // down
    tokens = _typical_tokens(config)
    specs = {
        "unet": GraphSpec(
            "unet", ("noisy_latent", "enhanced_latent", "timestep", "context"), ("eps",),
            {"noisy_latent": {0: "batch", 3: "latent_frames"}, "enhanced_latent": {0: "batch", 3: "latent_frames"},
             "timestep": {0: "batch"}, "context": {0: "batch", 1: "tokens"}, "eps": {0: "batch", 3: "latent_frames"}},
            {"noisy_latent": (2, u.noisy_channels, lat_f, lat_t), "enhanced_latent": (2, c, lat_f, lat_t), "timestep": (2,),
             "context": (2, tokens, u.context_dim)},
            u.size_multiple),
        "vae_encoder": GraphSpec(
            "vae_encoder", ("mel",), ("latent_mean",),
            {"mel": {0: "batch", 3: "frames"}, "latent_mean": {0: "batch", 3: "latent_frames"}},
            {"mel": (1, v.in_channels, mels + (-mels % down), WINDOW_MEL_FRAMES)}, down),
        "vae_decoder": GraphSpec(
            "vae_decoder", ("latent",), ("mel",),
            {"latent": {0: "batch", 3: "latent_frames"}, "mel": {0: "batch", 3: "frames"}},
            {"latent": (1, c, math.ceil(mels / down), lat_t)}),
        "vocoder": GraphSpec(
            "vocoder", ("log_mel",), ("wave",),
            {"log_mel": {0: "batch", 2: "frames"}, "wave": {0: "batch", 1: "samples"}},
            {"log_mel": (1, config.vocoder.n_mels, WINDOW_MEL_FRAMES)}),
    }
    cond_inputs: list[str] = []
    cond_axes: dict[str, dict[int, str]] = {"tokens": {0: "batch", 1: "tokens"}}
    cond_shapes: dict[str, tuple[int, ...]] = {}
    if cc.uses_audio:
        cond_inputs.append("audio_mel")
        cond_axes["audio_mel"] = {0: "batch", 3: "frames"}
        cond_shapes["audio_mel"] = (1, 1, mels, WINDOW_MEL_FRAMES)
    if cc.uses_image:
        cond_inputs.append("image")
        cond_axes["image"] = {0: "batch"}
        cond_shapes["image"] = (1, 3, cc.image_size_px, cc.image_size_px)
    specs["condition"] = GraphSpec("condition", tuple(cond_inputs), ("tokens",), cond_axes, cond_shapes)
    return specs


def _typical_tokens(config: StylizerConfig) -> int:
    cc = config.condition
    tokens = 0
    if cc.uses_audio:
        tokens += 1 + math.ceil(WINDOW_MEL_FRAMES / 32)
    if cc.uses_image:
        tokens += 1 + math.ceil(cc.image_size_px / 32) ** 2
    return tokens


# -- the wrappers ----------------------------------------------------------------------------------


class UNetGraph(nn.Module):
    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, noisy_latent: Tensor, enhanced_latent: Tensor, timestep: Tensor, context: Tensor) -> Tensor:
        return self.unet(noisy_latent, enhanced_latent, timestep, context)


class VAEEncoderGraph(nn.Module):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.encoder = vae.encoder

    def forward(self, mel: Tensor) -> Tensor:
        return self.encoder(mel).chunk(2, dim=1)[0]


class VAEDecoderGraph(nn.Module):
    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.decoder = vae.decoder

    def forward(self, latent: Tensor) -> Tensor:
        return self.decoder(latent)


class VocoderGraph(nn.Module):
    """The Vocos vocoder with its inverse STFT in real arithmetic (see the module docstring)."""

    def __init__(self, vocoder: nn.Module) -> None:
        super().__init__()
        self.vocoder = vocoder
        c = vocoder.config
        n, hop = c.n_fft, c.hop_length
        bins = n // 2 + 1
        k = torch.arange(bins, dtype=torch.float64)[:, None]
        t = torch.arange(n, dtype=torch.float64)[None, :]
        scale = torch.full((bins, 1), 2.0, dtype=torch.float64)
        scale[0] = 1.0
        if n % 2 == 0:
            scale[-1] = 1.0
        angle = 2.0 * math.pi * k * t / n
        window = torch.hann_window(n, periodic=True, dtype=torch.float64)
        # irfft(X)[t] = sum_k scale_k/n (Re X_k cos(angle) - Im X_k sin(angle)); imaginary parts of the
        # DC and Nyquist bins drop out because sin(angle) is 0 there.
        basis = torch.cat([scale * torch.cos(angle), -scale * torch.sin(angle)]) / n * window[None]
        self.register_buffer("basis", basis.float()[:, None, :], persistent=False)  # (2 bins, 1, n)
        self.register_buffer("window_sq", window.square().float()[None, None, :], persistent=False)
        self.hop, self.pad = hop, (n - hop) // 2

    def forward(self, log_mel: Tensor) -> Tensor:
        voc = self.vocoder
        x = voc.norm_in(voc.embed(log_mel).transpose(1, 2)).transpose(1, 2)
        for block in voc.blocks:
            x = block(x)
        log_magnitude, phase = voc.head(voc.norm_out(x.transpose(1, 2))).transpose(1, 2).chunk(2, dim=1)
        magnitude = torch.exp(log_magnitude.clamp(max=voc.config.max_log_magnitude))
        spectrum = torch.cat([magnitude * torch.cos(phase), magnitude * torch.sin(phase)], dim=1)
        wave = F.conv_transpose1d(spectrum, self.basis, stride=self.hop)[:, 0]
        ones = torch.ones_like(log_magnitude[:1, :1, :])
        envelope = F.conv_transpose1d(ones, self.window_sq, stride=self.hop)[0, 0]
        end = wave.shape[-1] - self.pad
        return wave[:, self.pad:end] / envelope[self.pad:end].clamp(min=1e-11)


class ConditionGraph(nn.Module):
    def __init__(self, cond_encoder: nn.Module) -> None:
        super().__init__()
        self.cond_encoder = cond_encoder
        self.uses_audio = cond_encoder.config.uses_audio
        self.uses_image = cond_encoder.config.uses_image

    def forward(self, *inputs: Tensor) -> Tensor:
        it = iter(inputs)
        audio_mel = next(it) if self.uses_audio else None
        image = next(it) if self.uses_image else None
        return self.cond_encoder(audio_mel=audio_mel, image=image)


def graph_modules(model: nn.Module) -> dict[str, nn.Module]:
    """name -> exportable module over a Stylizer's networks (shares their weights)."""
    return {
        "unet": UNetGraph(model.unet).eval(),
        "vae_encoder": VAEEncoderGraph(model.vae).eval(),
        "vae_decoder": VAEDecoderGraph(model.vae).eval(),
        "vocoder": VocoderGraph(model.vocoder).eval(),
        "condition": ConditionGraph(model.cond_encoder).eval(),
    }


def example_inputs(spec: GraphSpec, config: StylizerConfig, seed: int = 0) -> tuple[Tensor, ...]:
    """Plausible inputs of the typical shapes (what tracing and parity checks feed)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for name in spec.inputs:
        shape = spec.typical_shapes[name]
        if name == "timestep":
            out.append(torch.randint(0, config.diffusion.num_train_timesteps, shape, generator=g).float())
        elif name in ("mel", "audio_mel", "log_mel"):
            out.append(-6.0 + 2.0 * torch.randn(shape, generator=g))  # log-mel values of quiet speech
        elif name == "image":
            out.append(torch.rand(shape, generator=g))
        else:
            out.append(torch.randn(shape, generator=g))
    return tuple(out)

"""The one interface every inference backend implements, in terms of the stylizer's five networks.

Why five small calls rather than "run the pipeline": the sampler loop, classifier-free guidance and
windowing stay in one place (engine.diffusion.pipeline / engine), so a backend only has to make
networks fast, and switching torch for onnxruntime or TensorRT cannot change the algorithm.

Contract (all tensors are torch tensors on ``backend.device``, float32 in and out, whatever
precision the backend computes in; shapes as in engine.diffusion.models):

* ``encode(mel)``: log-mel image (B, 1, mels, frames) -> posterior mean (B, C, mels/4, ceil(frames/4)),
  unscaled (the pipeline applies ``latent_scale``). Padding to the VAE's multiple is done here.
* ``decode(latent)``: (B, C, F, T) -> log-mel image (B, 1, 4F, 4T), uncropped.
* ``denoise(noisy, enhanced, timestep, context)``: the U-Net's epsilon; timestep is a scalar or (B,).
* ``vocode(log_mel)``: (B, n_mels, frames) -> wave (B, frames * hop).
* ``condition(audio_mel, image)``: hint log-mel (B, 1, mels, frames) and/or frame (B, 3, H, W) -> tokens.
* ``null_like(tokens)``: the learned unconditional context, shaped like ``tokens``.

The exported graphs (engine.runtime.graphs) have fixed-multiple shapes because a traced graph
cannot contain the models' Python ``if`` around padding; ``pad_frames`` / ``pad_mel`` do that
padding outside the graphs, identically for every backend.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.diffusion.config import StylizerConfig


class Backend:
    """Base class: subclasses implement the five network calls; see the module docstring."""

    name: str = "?"

    def __init__(self, config: StylizerConfig, null_token: Tensor, device: torch.device | str) -> None:
        self.config = config
        self.device = torch.device(device)
        self.dtype = torch.float32  # what the pipeline hands in and gets back
        self._null = null_token.detach().to(self.device, torch.float32)

    # -- the networks ----------------------------------------------------------------------
    def encode(self, mel: Tensor) -> Tensor:
        raise NotImplementedError

    def decode(self, latent: Tensor) -> Tensor:
        raise NotImplementedError

    def denoise(self, noisy_latent: Tensor, enhanced_latent: Tensor, timestep: Tensor | int | float,
                context: Tensor) -> Tensor:
        raise NotImplementedError

    def vocode(self, log_mel: Tensor) -> Tensor:
        raise NotImplementedError

    def condition(self, audio_mel: Tensor | None = None, image: Tensor | None = None) -> Tensor:
        raise NotImplementedError

    def null_like(self, tokens: Tensor) -> Tensor:
        return self._null.to(tokens.dtype).expand_as(tokens)

    # -- description -----------------------------------------------------------------------
    @property
    def precision(self) -> str:
        return "fp32"

    def describe(self) -> str:
        return f"{self.name} on {self.device.type} ({self.precision})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def timesteps_for(timestep: Tensor | int | float, batch: int, device: torch.device) -> Tensor:
    """(batch,) float32 timesteps: the graphs take a vector, the pipeline passes a scalar."""
    return torch.as_tensor(timestep, device=device).reshape(-1).float().expand(batch).contiguous()


def pad_frames(x: Tensor, multiple: int, value: float = 0.0) -> Tensor:
    """Pad the last two axes up to a multiple (as blocks.pad_to_multiple does inside the models)."""
    pad_h, pad_w = -x.shape[-2] % multiple, -x.shape[-1] % multiple
    return F.pad(x, (0, pad_w, 0, pad_h), value=value) if pad_h or pad_w else x

"""torch, on the CPU in fp32 or on CUDA under autocast (fp16 or bf16).

Why autocast rather than casting the weights: GroupNorm/LayerNorm and the vocoder's exp stay in
fp32 under autocast while the convolutions and attention matmuls (the cost) run in half
precision on tensor cores; the samplers' arithmetic stays fp32 because every call returns fp32.

CUDA graphs (engine.runtime.cuda_graphs) are opt-in for the U-Net: they remove per-kernel launch
overhead, which dominates only for small models at small batches; see that module.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from engine.diffusion.models.stylizer import Stylizer
from engine.runtime.base import Backend, pad_frames, timesteps_for

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, model: Stylizer, precision: str = "fp32", cuda_graphs: bool = False) -> None:
        device = next(model.parameters()).device
        super().__init__(model.config, model.cond_encoder.null, device)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {precision!r}")
        if precision != "fp32" and device.type != "cuda":
            raise ValueError(f"precision {precision!r} needs a CUDA device; the CPU runs fp32")
        self.model = model.eval()
        self._precision = precision
        self._graphed = None
        if cuda_graphs and device.type == "cuda":
            from engine.runtime.cuda_graphs import GraphedCallable

            self._graphed = GraphedCallable(self._unet_call)
        self.cuda_graphs = self._graphed is not None

    @property
    def precision(self) -> str:
        return self._precision

    def _autocast(self):
        if self._precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=PRECISIONS[self._precision])

    def _unet_call(self, noisy: Tensor, enhanced: Tensor, timestep: Tensor, context: Tensor) -> Tensor:
        with self._autocast():
            return self.model.unet(noisy, enhanced, timestep, context).float()

    @torch.no_grad()
    def encode(self, mel: Tensor) -> Tensor:
        vae = self.model.vae
        with self._autocast():
            mean = vae.encoder(pad_frames(mel, vae.config.downsample_factor, vae.config.pad_value)).chunk(2, 1)[0]
        return mean.float()

    @torch.no_grad()
    def decode(self, latent: Tensor) -> Tensor:
        with self._autocast():
            return self.model.vae.decode(latent).float()

    @torch.no_grad()
    def denoise(self, noisy_latent: Tensor, enhanced_latent: Tensor, timestep: Tensor | int | float,
                context: Tensor) -> Tensor:
        t = timesteps_for(timestep, noisy_latent.shape[0], noisy_latent.device)
        if self._graphed is not None:
            return self._graphed(noisy_latent, enhanced_latent, t, context)
        return self._unet_call(noisy_latent, enhanced_latent, t, context)

    @torch.no_grad()
    def vocode(self, log_mel: Tensor) -> Tensor:
        with self._autocast():
            return self.model.vocoder(log_mel).float()

    @torch.no_grad()
    def condition(self, audio_mel: Tensor | None = None, image: Tensor | None = None) -> Tensor:
        with self._autocast():
            return self.model.cond_encoder(audio_mel=audio_mel, image=image).float()

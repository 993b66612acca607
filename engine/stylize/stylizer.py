"""The window model of the diffusion renderer: dry model-rate windows in, stylized windows out."""

from __future__ import annotations

import numpy as np
import torch

from engine.diffusion.pipeline import StylizerPipeline, make_sampler
from engine.settings import Settings
from engine.stylize.noise import latent_noise, seed_of


class WindowStylizer:
    """The window model for OverlapAdd: (B, window) dry model-rate waves -> (B, window) stylized waves.

    ``stylize`` takes windows together with their own start noise and condition, so windows of
    different files can share one network batch (engine.stylize.throughput); every window's
    result depends only on its own inputs, whatever it is batched with.
    """

    def __init__(self, model, condition: torch.Tensor, settings: Settings, latent_frame_samples: int,
                 backend=None) -> None:
        config = model.config
        self.pipe = StylizerPipeline.from_stylizer(model, make_sampler(settings.sampler, config), backend)
        self.condition = condition
        self.steps, self.guidance, self.seed = int(settings.steps), float(settings.guidance), int(settings.seed)
        self.sampler_name = settings.sampler
        self.latent_frame_samples = latent_frame_samples
        self.calls = 0

    @property
    def batch_key(self) -> tuple:
        """Windows of stylizers with equal keys may share a batch (same networks, loop and guidance)."""
        return id(self.pipe.backend) if self.pipe.backend is not None else id(self.pipe.unet), \
            self.sampler_name, self.steps, self.guidance

    def start_noise(self, starts: list[int], shape: tuple[int, int, int]) -> torch.Tensor:
        """(B, C, F, T) initial latents: cut by absolute latent frame from this file's seed's sequence."""
        c, h, t = shape
        return torch.stack([latent_noise(self.seed, s // self.latent_frame_samples, t, (c, h)) for s in starts])

    def latent_shape(self, window: int) -> tuple[int, int, int]:
        """(C, F, T) of the sampled latent of one window of ``window`` samples (C: all stems)."""
        config = self.pipe.vae.config
        frames = window // self.pipe.mel.config.hop_length
        down = config.downsample_factor
        return self.pipe.unet.config.noisy_channels, -(-self.pipe.mel.config.n_mels // down), -(-frames // down)

    @torch.no_grad()
    def __call__(self, windows: np.ndarray, starts: list[int]) -> np.ndarray:
        noise = self.start_noise(starts, self.latent_shape(windows.shape[-1]))
        return self.stylize(windows, noise, self.condition, generator_seed=seed_of(self.seed, 3, starts[0]))

    @torch.no_grad()
    def stylize(self, windows: np.ndarray, noise: torch.Tensor, condition: torch.Tensor,
                generator_seed: int = 0) -> np.ndarray:
        """windows (B, window), noise (B, C, F, T), condition (1 or B, L, D) -> (B, window) float32.

        A residual model's windows are (B, stems, window) with the dry input in every row (so the
        overlap-add carries the stem axis through); it returns each stem: (B, stems, window)."""
        pipe = self.pipe
        stems = pipe.stems
        if stems > 1:
            windows = windows[:, 0]
        wave = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        out = pipe(wave, condition, latents=noise, steps=self.steps, guidance_scale=self.guidance,
                   seed=generator_seed).wave  # the seed drives DDIM eta > 0 only: the start noise is given
        self.calls += 1
        if out.shape[-1] < windows.shape[-1]:
            out = torch.nn.functional.pad(out, (0, windows.shape[-1] - out.shape[-1]))
        return out.float().cpu().numpy()

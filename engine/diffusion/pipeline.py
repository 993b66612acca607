"""Inference: enhanced speech + hint-clip condition -> stylized wave. The pipeline owns the loop.

Classifier-free guidance runs the unconditional and conditional predictions as ONE batch
(null context first), then eps = eps_u + g (eps_c - eps_u); g = 1 is the conditional model,
g = 0 the unconditional one, the paper samples with g = 4.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor

from engine.diffusion.config import StylizerConfig
from engine.diffusion.mel import MelFrontEnd
from engine.diffusion.models.encoders import ConditionEncoder
from engine.diffusion.models.stylizer import Stylizer
from engine.diffusion.models.unet import LatentUNet
from engine.diffusion.models.vae import MelVAE
from engine.diffusion.models.vocoder import VocosVocoder
from engine.diffusion.samplers import DDIMSampler, DPMSolverPP2MSampler
from engine.progress import CancelToken

if TYPE_CHECKING:
    from engine.runtime.base import Backend

OUTPUTS = ("wave", "mel", "latent")
Sampler = DDIMSampler | DPMSolverPP2MSampler
SAMPLERS = {"ddim": DDIMSampler, "dpmpp": DPMSolverPP2MSampler}  # the names of engine.settings.SAMPLERS (a test)


def make_sampler(name: str, config: StylizerConfig) -> Sampler:
    """The named sampler for a model, clipping x0 to the package's measured latent range: the one
    place that pairs them, so no caller can forget the clip (without it a tiny model's samples drift)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {tuple(SAMPLERS)}")
    return SAMPLERS[name](config.diffusion, clip_x0=config.vae.latent_clip)


@dataclass(frozen=True)
class StylizerOutput:
    """A full-formulation model's mel and wave are (B, n_mels, frames) and (B, samples); a residual
    one's have a stem axis after the batch: (B, stems, ...) in StylizerConfig.stem_names order."""

    latent: Tensor  # (B, stems * latent_channels, mels/4, frames/4), diffusion-scaled
    mel: Tensor | None = None  # log-mel
    wave: Tensor | None = None  # at the mel's sample rate


class StylizerPipeline:
    """Holds the networks and a sampler; no weights of its own, so it is cheap to rebuild."""

    def __init__(self, vae: MelVAE, unet: LatentUNet, cond_encoder: ConditionEncoder, vocoder: VocosVocoder,
                 mel: MelFrontEnd, sampler: Sampler, backend: Backend | None = None) -> None:
        """``backend`` (engine.runtime) runs the networks; None runs these modules in torch as they are."""
        if unet.config.latent_channels != vae.config.latent_channels:  # per stem
            raise ValueError("unet and vae disagree on latent_channels")
        if unet.config.context_dim != cond_encoder.config.context_dim:
            raise ValueError("unet and cond_encoder disagree on context_dim")
        self.vae, self.unet, self.cond_encoder, self.vocoder = vae, unet, cond_encoder, vocoder
        self.mel, self.sampler = mel, sampler
        self.backend = backend

    @classmethod
    def from_stylizer(cls, model: Stylizer, sampler: Sampler | None = None,
                      backend: Backend | None = None) -> "StylizerPipeline":
        device = backend.device if backend is not None else next(model.parameters()).device
        mel = MelFrontEnd(model.config.mel).to(device)
        return cls(model.vae, model.unet, model.cond_encoder, model.vocoder, mel,
                   sampler or make_sampler("ddim", model.config), backend)

    @property
    def stems(self) -> int:
        """Latents the U-Net denoises together (1: the full formulation, 2: reverb and ambience)."""
        return self.unet.config.stems

    def noise_shape(self, enhanced_latent: Tensor) -> tuple[int, ...]:
        """The sampled latent's shape for an enhanced latent (B, C, F, T): (B, stems * C, F, T)."""
        b, c, f, t = enhanced_latent.shape
        return b, self.stems * c, f, t

    @property
    def device(self) -> torch.device:
        return self.backend.device if self.backend is not None else next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return self.backend.dtype if self.backend is not None else next(self.unet.parameters()).dtype

    # -- building blocks, usable on their own --------------------------------------------------

    @torch.no_grad()
    def encode_condition(self, hint_wave: Tensor | None = None, hint_image: Tensor | None = None) -> Tensor:
        """Hint clip (B, samples) at the mel rate and/or frame (B, 3, H, W) in [0, 1] -> context tokens."""
        mel = None if hint_wave is None else self.mel(hint_wave.to(self.device))[:, None]
        image = None if hint_image is None else hint_image.to(self.device, self.dtype)
        if self.backend is not None:
            return self.backend.condition(audio_mel=mel, image=image)
        return self.cond_encoder(audio_mel=mel, image=image)

    @torch.no_grad()
    def encode_enhanced(self, enhanced_wave: Tensor) -> tuple[Tensor, int]:
        """Enhanced speech -> (diffusion-scaled posterior mean, mel frame count before padding)."""
        mel = self.mel(enhanced_wave.to(self.device))[:, None].to(self.dtype)
        mean = self.backend.encode(mel) if self.backend is not None else self.vae.encode(mel).mode()
        latent = mean * self.vae.config.latent_scale
        return latent, mel.shape[-1]

    @torch.no_grad()
    def predict_noise(self, latent: Tensor, enhanced_latent: Tensor, timestep: Tensor | int, condition: Tensor,
                      guidance_scale: float, guidance_rescale: float = 0.0) -> Tensor:
        """Classifier-free guided noise. ``guidance_rescale`` phi > 0 rescales the guided x0 towards the
        conditional x0's standard deviation (Lin et al., 2024), blended by phi; 0 is plain CFG."""
        batch = latent.shape[0]
        unet, null_like = (self.backend.denoise, self.backend.null_like) if self.backend is not None \
            else (self.unet, self.cond_encoder.null_like)
        if guidance_scale == 1.0:  # the conditional prediction alone: skip the unconditional half of the batch
            return unet(latent, enhanced_latent, timestep, condition)
        eps_u, eps_c = unet(torch.cat([latent, latent]), torch.cat([enhanced_latent, enhanced_latent]),
                            timestep, torch.cat([null_like(condition), condition])).split(batch)
        # Algebraically eps_u + g (eps_c - eps_u); written around eps_c so g = 1 returns it bit for bit.
        eps = eps_c + (guidance_scale - 1.0) * (eps_c - eps_u)
        if guidance_rescale <= 0:
            return eps
        alpha = float(self.sampler.schedule.alphas_cumprod[int(timestep)]) ** 0.5
        sigma = (1.0 - alpha * alpha) ** 0.5
        x0, x0_c = (latent - sigma * eps) / alpha, (latent - sigma * eps_c) / alpha
        dims = tuple(range(1, latent.ndim))
        phi = guidance_rescale
        x0 = phi * x0 * (x0_c.std(dim=dims, keepdim=True) / x0.std(dim=dims, keepdim=True)) + (1.0 - phi) * x0
        return (latent - alpha * x0) / sigma

    @torch.no_grad()
    def decode(self, latent: Tensor, num_frames: int | None = None) -> Tensor:
        """Diffusion latent -> log-mel (B, n_mels, frames) (stems > 1: (B, stems, n_mels, frames)),
        cropped to num_frames. Each stem's latent is decoded on its own, in one batch."""
        decode = self.backend.decode if self.backend is not None else self.vae.decode
        b, s = latent.shape[0], self.stems
        flat = latent.reshape(b * s, latent.shape[1] // s, *latent.shape[2:])
        mel = decode(flat / self.vae.config.latent_scale)[:, 0]
        mel = mel[:, : self.mel.config.n_mels, :num_frames]
        return mel if s == 1 else mel.reshape(b, s, *mel.shape[1:])

    @torch.no_grad()
    def vocode(self, mel: Tensor) -> Tensor:
        """Log-mel (B, n_mels, frames) -> wave (B, frames * hop) at the mel's rate; a stem axis
        (B, stems, n_mels, frames) is kept: (B, stems, samples)."""
        vocode = self.backend.vocode if self.backend is not None else self.vocoder
        if mel.ndim == 4:
            b, s = mel.shape[:2]
            return vocode(mel.reshape(b * s, *mel.shape[2:])).reshape(b, s, -1)
        return vocode(mel)

    # -- the loop ----------------------------------------------------------------------------

    def check_inputs(self, enhanced_wave: Tensor | None, enhanced_latent: Tensor | None, condition: Tensor | None,
                     steps: int, guidance_scale: float, seed: int | None, output: str,
                     sample_rate_hz: int | None, latents: Tensor | None = None,
                     guidance_interval: tuple[float, float] = (0.0, 1.0), guidance_rescale: float = 0.0) -> None:
        """Every argument is checked before any compute, and the message names the culprit."""
        if (enhanced_wave is None) == (enhanced_latent is None):
            raise ValueError("give exactly one of enhanced_wave or enhanced_latent, "
                             f"got {'both' if enhanced_wave is not None else 'neither'}")
        if enhanced_wave is not None:
            if not isinstance(enhanced_wave, Tensor) or enhanced_wave.ndim not in (1, 2):
                raise ValueError(f"enhanced_wave must be a (samples,) or (batch, samples) tensor, "
                                 f"got {_describe(enhanced_wave)}")
            if enhanced_wave.shape[-1] < self.mel.config.n_fft:
                raise ValueError(f"enhanced_wave needs at least {self.mel.config.n_fft} samples, "
                                 f"got {enhanced_wave.shape[-1]}")
            if not bool(torch.isfinite(enhanced_wave).all()):
                raise ValueError("enhanced_wave contains NaN or infinite samples")
            batch = 1 if enhanced_wave.ndim == 1 else enhanced_wave.shape[0]
        else:
            c = self.vae.config.latent_channels
            if not isinstance(enhanced_latent, Tensor) or enhanced_latent.ndim != 4 or enhanced_latent.shape[1] != c:
                raise ValueError(f"enhanced_latent must be a (batch, {c}, F, T) tensor, "
                                 f"got {_describe(enhanced_latent)}")
            batch = enhanced_latent.shape[0]
        if sample_rate_hz is not None and sample_rate_hz != self.mel.config.sample_rate_hz:
            raise ValueError(f"sample_rate_hz must be {self.mel.config.sample_rate_hz} (resample first), "
                             f"got {sample_rate_hz}")
        d = self.unet.config.context_dim
        if not isinstance(condition, Tensor) or condition.ndim != 3 or condition.shape[2] != d \
                or condition.shape[0] not in (1, batch):
            raise ValueError(f"condition must be a (1 or {batch}, tokens, {d}) tensor, got {_describe(condition)}")
        limit = self.sampler.schedule.num_train_timesteps - 1
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= limit:
            raise ValueError(f"steps must be an int in [1, {limit}], got {steps!r}")
        if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float)) \
                or not math.isfinite(guidance_scale) or guidance_scale < 0:
            raise ValueError(f"guidance_scale must be a finite number >= 0, got {guidance_scale!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        c = self.unet.config.noisy_channels
        if latents is not None and (not isinstance(latents, Tensor) or latents.ndim != 4
                                    or tuple(latents.shape[:2]) != (batch, c)):
            raise ValueError(f"latents must be a ({batch}, {c}, F, T) tensor (the start noise), "
                             f"got {_describe(latents)}")
        lo, hi = guidance_interval
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"guidance_interval must be (lo, hi) with 0 <= lo <= hi <= 1, got {guidance_interval!r}")
        if not (math.isfinite(guidance_rescale) and 0.0 <= guidance_rescale <= 1.0):
            raise ValueError(f"guidance_rescale must be in [0, 1], got {guidance_rescale!r}")

    @torch.no_grad()
    def __call__(self, enhanced_wave: Tensor | None = None, condition: Tensor | None = None, *,
                 enhanced_latent: Tensor | None = None, steps: int | None = None, guidance_scale: float = 4.5,
                 seed: int | None = 0, output: str = "wave", sample_rate_hz: int | None = None,
                 on_step: Callable[[int, int], None] | None = None,
                 cancel: CancelToken | None = None, latents: Tensor | None = None,
                 guidance_interval: tuple[float, float] = (0.0, 1.0),
                 guidance_rescale: float = 0.0) -> StylizerOutput:
        """Same seed, same inputs, same device -> same output (noise is drawn on the CPU).

        ``latents``: the start noise (B, stems * C, F, T) instead of drawing it from ``seed`` (the
        renderer draws it per window position, so overlapping windows agree); ``seed`` then seeds
        only the sampler's own noise (DDIM eta > 0). ``guidance_interval`` (lo, hi): guidance applies
        only while t / T is in it, g = 1 elsewhere (Kynkaanniemi et al., 2024); ``guidance_rescale``:
        see predict_noise."""
        steps = self.sampler.default_num_steps if steps is None else steps
        self.check_inputs(enhanced_wave, enhanced_latent, condition, steps, guidance_scale, seed, output,
                          sample_rate_hz, latents, guidance_interval, guidance_rescale)
        assert condition is not None
        num_samples = None
        if enhanced_wave is not None:
            num_samples = enhanced_wave.shape[-1]
            enhanced_latent, num_frames = self.encode_enhanced(enhanced_wave)
        else:
            num_frames = enhanced_latent.shape[-1] * self.vae.config.downsample_factor  # type: ignore[union-attr]
        enhanced_latent = enhanced_latent.to(self.device, self.dtype)  # type: ignore[union-attr]
        condition = condition.to(self.device, self.dtype).expand(enhanced_latent.shape[0], -1, -1)

        generator = torch.Generator(device="cpu")  # CPU noise: the same seed gives the same audio on any device
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        if latents is None:
            latents = torch.randn(self.noise_shape(enhanced_latent), generator=generator, dtype=torch.float32)
        elif tuple(latents.shape) != self.noise_shape(enhanced_latent):
            raise ValueError(f"latents has shape {tuple(latents.shape)}, the latents {self.noise_shape(enhanced_latent)}")
        latent = latents.to(self.device, self.dtype)
        total = self.sampler.schedule.num_train_timesteps
        lo, hi = guidance_interval
        self.sampler.set_timesteps(steps)
        for i, t in enumerate(self.sampler.timesteps):
            if cancel is not None:
                cancel.raise_if_cancelled()
            g = float(guidance_scale) if lo <= float(t) / total <= hi else 1.0
            eps = self.predict_noise(latent, enhanced_latent, t.to(self.device), condition, g, guidance_rescale)
            latent = self.sampler.step(eps, t, latent, generator=generator)
            if on_step is not None:
                on_step(i + 1, steps)

        if output == "latent":
            return StylizerOutput(latent=latent)
        mel = self.decode(latent, num_frames)
        if output == "mel":
            return StylizerOutput(latent=latent, mel=mel)
        wave = self.vocode(mel)
        return StylizerOutput(latent=latent, mel=mel, wave=wave[..., :num_samples] if num_samples else wave)


def _describe(value: object) -> str:
    return f"shape {tuple(value.shape)}" if isinstance(value, Tensor) else repr(type(value).__name__)

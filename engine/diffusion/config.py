"""Frozen configs for the soundscape stylizer, with named sizes.

Every network is rebuilt from its config alone (checkpoints store config + weights, never
pickles), so configs hold every number that shapes a layer and nothing that does not.

Sizes:
  * ``tiny``  -- trains on 2 CPU cores in about an hour (~2 M parameters in all); used by tests.
  * ``small`` -- one GPU, a few days.
  * ``paper`` -- AudioLDM-scale, as in Li et al. (U-Net 128 channels, 8 heads x 64 dims).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

SIZES = ("tiny", "small", "paper")
# What the model renders: "full" = the whole scene recording (the paper), "residual" = only what the
# scene adds to the dialogue's direct path, as two stems (engine.stylize.renderer).
FORMULATIONS = ("full", "residual")
RESIDUAL_STEMS = ("reverb", "ambience")
CONDITION_MODES = ("audio", "visual", "audio-visual")
BETA_SCHEDULES = ("linear", "scaled_linear")

C = TypeVar("C", bound="_Config")


class _Config:
    """JSON round trip and named sizes shared by every config (tuples survive as tuples)."""

    _SIZES: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def named(cls: type[C], size: str) -> C:
        if size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {size!r}")
        return cls(**cls._SIZES.get(size, {}))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if isinstance(v, _Config) else (list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
        kw: dict[str, Any] = {}
        for name, v in data.items():
            hint = hints[name]
            if isinstance(hint, type) and issubclass(hint, _Config):
                kw[name] = hint.from_dict(v)
            elif isinstance(v, list):
                kw[name] = tuple(v)
            else:
                kw[name] = v
        return cls(**kw)


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


@dataclass(frozen=True)
class MelConfig(_Config):
    """AudioLDM's front end: magnitude STFT -> Slaney mel -> log with a floor.

    The same numbers feed the VAE, the audio condition encoder and the vocoder, so a
    mismatch between them is impossible by construction.
    """

    sample_rate_hz: int = 16000
    n_mels: int = 64
    n_fft: int = 1024
    hop_length: int = 160
    win_length: int = 1024
    fmin_hz: float = 0.0
    fmax_hz: float = 8000.0
    log_floor: float = 1e-5  # magnitudes below this are clamped before the log (-11.5 in log units)

    def __post_init__(self) -> None:
        _check(self.sample_rate_hz > 0, f"sample_rate_hz must be positive, got {self.sample_rate_hz}")
        _check(self.n_mels > 0, f"n_mels must be positive, got {self.n_mels}")
        _check(0 < self.win_length <= self.n_fft, f"win_length must be in (0, n_fft], got {self.win_length}")
        _check(0 < self.hop_length <= self.win_length, f"hop_length must be in (0, win_length], got {self.hop_length}")
        _check(0 <= self.fmin_hz < self.fmax_hz <= self.sample_rate_hz / 2,
               f"need 0 <= fmin_hz < fmax_hz <= sample_rate_hz/2, got {self.fmin_hz}, {self.fmax_hz}")
        _check(self.log_floor > 0, f"log_floor must be positive, got {self.log_floor}")

    @property
    def seconds_per_frame(self) -> float:
        return self.hop_length / self.sample_rate_hz


@dataclass(frozen=True)
class VAEConfig(_Config):
    """Mel VAE: len(channel_mults) - 1 halvings per axis; three levels give compression 4."""

    in_channels: int = 1
    latent_channels: int = 8
    base_channels: int = 16
    channel_mults: tuple[int, ...] = (1, 2, 3)
    num_res_blocks: int = 1
    mid_attention: bool = False
    norm_groups: int = 8
    # The value frames are padded with to reach a multiple of the compression: log(1e-5), i.e. silence.
    pad_value: float = -11.512925464970229
    # Multiplies latents before diffusion so they have roughly unit variance; measured after VAE training.
    latent_scale: float = 1.0
    # |value| bounding 99.9 % of the scaled training latents, measured with latent_scale; samplers
    # clip their x0 predictions to it (None: no clipping). See engine.diffusion.samplers.
    latent_clip: float | None = None
    disc_channels: int = 16
    disc_layers: int = 3

    _SIZES: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {},
        "small": {"base_channels": 64, "channel_mults": (1, 2, 4), "num_res_blocks": 2, "mid_attention": True,
                  "norm_groups": 32, "disc_channels": 32},
        "paper": {"base_channels": 128, "channel_mults": (1, 2, 4), "num_res_blocks": 2, "mid_attention": True,
                  "norm_groups": 32, "disc_channels": 64},
    }

    def __post_init__(self) -> None:
        _check(len(self.channel_mults) >= 1, "channel_mults must not be empty")
        for m in self.channel_mults:
            _check((self.base_channels * m) % self.norm_groups == 0,
                   f"base_channels*{m} must be divisible by norm_groups={self.norm_groups}")
        _check(self.latent_channels > 0 and self.num_res_blocks > 0,
               "latent_channels and num_res_blocks must be positive")
        _check(self.latent_scale > 0, f"latent_scale must be positive, got {self.latent_scale}")
        _check(self.latent_clip is None or self.latent_clip > 0, f"latent_clip must be positive, got {self.latent_clip}")

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.channel_mults) - 1)


@dataclass(frozen=True)
class ConditionEncoderConfig(_Config):
    """Hint-clip encoders (ResNet-18-style, from scratch) and their projection to the U-Net context."""

    mode: str = "audio-visual"
    context_dim: int = 64
    audio_base_channels: int = 8  # ResNet-18 uses 64; widths are base * (1, 2, 4, 8)
    image_base_channels: int = 8
    blocks_per_stage: tuple[int, ...] = (2, 2, 2, 2)  # ResNet-18
    image_size_px: int = 64  # images are resized to this square by the data pipeline, not here
    norm_groups: int = 4

    _SIZES: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {},
        "small": {"context_dim": 512, "audio_base_channels": 32, "image_base_channels": 32,
                  "image_size_px": 128, "norm_groups": 8},
        "paper": {"context_dim": 1024, "audio_base_channels": 64, "image_base_channels": 64,
                  "image_size_px": 224, "norm_groups": 32},
    }

    def __post_init__(self) -> None:
        _check(self.mode in CONDITION_MODES, f"mode must be one of {CONDITION_MODES}, got {self.mode!r}")
        _check(self.context_dim > 0, f"context_dim must be positive, got {self.context_dim}")
        _check(len(self.blocks_per_stage) == 4, "blocks_per_stage must have four stages")
        for base in (self.audio_base_channels, self.image_base_channels):
            _check(base % self.norm_groups == 0, f"base channels {base} must be divisible by norm_groups")

    @property
    def uses_audio(self) -> bool:
        return self.mode in ("audio", "audio-visual")

    @property
    def uses_image(self) -> bool:
        return self.mode in ("visual", "audio-visual")


@dataclass(frozen=True)
class UNetConfig(_Config):
    """Latent U-Net: four down blocks (each halves both axes), a bottleneck, four up blocks.

    ``cross_attention_down``/``_up`` say which blocks cross-attend to the condition; the
    paper puts it in the last three encoder and first three decoder blocks.
    """

    latent_channels: int = 8  # noisy latent; the enhanced input's latent adds as many again
    base_channels: int = 24
    channel_mults: tuple[int, ...] = (1, 2, 2, 2)
    num_res_blocks: int = 1
    cross_attention_down: tuple[bool, ...] = (False, True, True, True)
    cross_attention_up: tuple[bool, ...] = (True, True, True, False)
    mid_attention: bool = True
    num_heads: int = 4
    head_dim: int = 16
    context_dim: int = 64
    norm_groups: int = 8
    dropout: float = 0.0
    # eps = noisy_latent + network(...): see LatentUNet. False (the field's default) is the plain
    # network, so packages written before the field existed load unchanged; every named size sets it.
    noise_skip: bool = False
    # Latents denoised together, stacked on the channel axis: 1 for the paper's full signal, 2 for
    # the residual formulation's reverb and ambience (StylizerConfig.formulation). The enhanced
    # input's latent is always one latent_channels-wide latent.
    stems: int = 1

    _SIZES: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"noise_skip": True},
        "small": {"base_channels": 64, "channel_mults": (1, 2, 3, 4), "num_res_blocks": 2, "num_heads": 8,
                  "head_dim": 32, "context_dim": 512, "norm_groups": 32, "dropout": 0.1, "noise_skip": True},
        "paper": {"base_channels": 128, "channel_mults": (1, 2, 3, 5), "num_res_blocks": 2, "num_heads": 8,
                  "head_dim": 64, "context_dim": 1024, "norm_groups": 32, "dropout": 0.1, "noise_skip": True},
    }

    def __post_init__(self) -> None:
        n = len(self.channel_mults)
        _check(n == 4, f"the paper's U-Net has four levels; channel_mults has {n}")
        _check(len(self.cross_attention_down) == n and len(self.cross_attention_up) == n,
               "cross_attention_down/up need one flag per level")
        for m in self.channel_mults:
            _check((self.base_channels * m) % self.norm_groups == 0,
                   f"base_channels*{m} must be divisible by norm_groups={self.norm_groups}")
        _check(self.num_heads > 0 and self.head_dim > 0, "num_heads and head_dim must be positive")
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        _check(self.stems >= 1, f"stems must be >= 1, got {self.stems}")

    @property
    def noisy_channels(self) -> int:
        return self.stems * self.latent_channels

    @property
    def in_channels(self) -> int:
        return self.noisy_channels + self.latent_channels

    @property
    def size_multiple(self) -> int:
        """Latent height/width are padded up to this so every downsampling is exact."""
        return 2 ** len(self.channel_mults)


@dataclass(frozen=True)
class VocoderConfig(_Config):
    """Vocos: ConvNeXt over mel frames, predicting STFT magnitude and phase for an iSTFT."""

    n_mels: int = 64
    dim: int = 64
    intermediate_dim: int = 192
    num_layers: int = 4
    kernel_size: int = 7
    n_fft: int = 640  # 4 x hop: the iSTFT's own resolution, independent of the mel's n_fft
    hop_length: int = 160  # must equal the mel hop so one frame in gives hop samples out
    max_log_magnitude: float = 4.6  # exp(4.6) ~ 100, Vocos' clip against blow-ups early in training

    _SIZES: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {},
        "small": {"dim": 256, "intermediate_dim": 768, "num_layers": 8},
        "paper": {"dim": 512, "intermediate_dim": 1536, "num_layers": 8},
    }

    def __post_init__(self) -> None:
        _check(self.n_fft >= self.hop_length > 0, "need n_fft >= hop_length > 0")
        _check((self.n_fft - self.hop_length) % 2 == 0, "n_fft - hop_length must be even for 'same' iSTFT padding")
        _check(self.kernel_size % 2 == 1, f"kernel_size must be odd, got {self.kernel_size}")


@dataclass(frozen=True)
class DiffusionConfig(_Config):
    """Training-time noise schedule and guidance defaults (AudioLDM's numbers)."""

    num_train_timesteps: int = 1000
    beta_start: float = 0.0015
    beta_end: float = 0.0195
    # LDM/AudioLDM call their schedule "linear" but space sqrt(beta) linearly ("scaled_linear" here).
    beta_schedule: str = "scaled_linear"
    condition_dropout: float = 0.1
    guidance_scale: float = 4.5
    sampling_steps: int = 200

    def __post_init__(self) -> None:
        _check(self.num_train_timesteps > 1, "num_train_timesteps must exceed 1")
        _check(0 < self.beta_start < self.beta_end < 1, "need 0 < beta_start < beta_end < 1")
        _check(self.beta_schedule in BETA_SCHEDULES, f"beta_schedule must be one of {BETA_SCHEDULES}")
        _check(0 <= self.condition_dropout < 1, "condition_dropout must be in [0, 1)")


@dataclass(frozen=True)
class StylizerConfig(_Config):
    """Everything one stylizer package needs; sizes of the parts are kept consistent here."""

    mel: MelConfig = field(default_factory=MelConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    condition: ConditionEncoderConfig = field(default_factory=ConditionEncoderConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    formulation: str = "full"  # packages written before the field existed are full-signal models
    # Residual only: dB the engine adds to each stem, measured after training on held-back examples
    # (engine.train.calibrate); () = none. A small model renders its stems at a biased level.
    stem_gain_db: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        _check(self.formulation in FORMULATIONS, f"formulation must be one of {FORMULATIONS}, got {self.formulation!r}")
        want = len(RESIDUAL_STEMS) if self.formulation == "residual" else 1
        _check(len(self.stem_gain_db) in (0, want) and all(-40.0 <= g <= 40.0 for g in self.stem_gain_db),
               f"stem_gain_db needs one value per stem ({want}) within +-40 dB, got {self.stem_gain_db!r}")
        _check(self.unet.stems == want, f"a {self.formulation} model denoises {want} latent(s); unet.stems is {self.unet.stems}")
        _check(self.unet.latent_channels == self.vae.latent_channels,
               f"unet.latent_channels {self.unet.latent_channels} != vae.latent_channels {self.vae.latent_channels}")
        _check(self.unet.context_dim == self.condition.context_dim,
               f"unet.context_dim {self.unet.context_dim} != condition.context_dim {self.condition.context_dim}")
        _check(self.vocoder.n_mels == self.mel.n_mels, "vocoder.n_mels must equal mel.n_mels")
        _check(self.vocoder.hop_length == self.mel.hop_length, "vocoder.hop_length must equal mel.hop_length")
        _check(self.mel.n_mels % self.vae.downsample_factor == 0,
               "mel.n_mels must be a multiple of the VAE compression")

    @classmethod
    def named(cls, size: str, formulation: str = "full") -> "StylizerConfig":
        if size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {size!r}")
        if formulation not in FORMULATIONS:
            raise ValueError(f"formulation must be one of {FORMULATIONS}, got {formulation!r}")
        stems = len(RESIDUAL_STEMS) if formulation == "residual" else 1
        unet = dataclasses.replace(UNetConfig.named(size), stems=stems)
        return cls(mel=MelConfig(), vae=VAEConfig.named(size), condition=ConditionEncoderConfig.named(size),
                   unet=unet, vocoder=VocoderConfig.named(size), diffusion=DiffusionConfig(), formulation=formulation)

    @property
    def stem_names(self) -> tuple[str, ...]:
        """What the model's latent channels hold, in order: ("mix",) or RESIDUAL_STEMS."""
        return RESIDUAL_STEMS if self.formulation == "residual" else ("mix",)

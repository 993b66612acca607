"""Condition encoders for the hint clip, trained from scratch with the U-Net.

Each modality gives a global embedding (what the scene sounds/looks like overall) and a
token sequence (where in time / in the frame); both are projected to the U-Net's context
width and late-fused by concatenating the sequences. A learned null condition stands in
for dropped conditions, which is what classifier-free guidance's unconditional pass uses.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.diffusion.config import ConditionEncoderConfig
from engine.diffusion.models.blocks import ResNetTrunk, position_embedding

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class AudioConditionEncoder(nn.Module):
    """ResNet-18-style over the hint's log-mel (B, 1, mels, frames).

    Tokens pool over frequency and keep time (frames / 32 of them), because a soundscape's
    character unfolds over time while its spectrum is summarised well by the channels.
    """

    def __init__(self, config: ConditionEncoderConfig) -> None:
        super().__init__()
        self.trunk = ResNetTrunk(1, config.audio_base_channels, config.blocks_per_stage, config.norm_groups)
        self.out_channels = self.trunk.out_channels

    def forward(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (embedding (B, C), tokens (B, frames/32, C))."""
        if mel.ndim != 4 or mel.shape[1] != 1:
            raise ValueError(f"hint mel must be (batch, 1, mels, frames), got {tuple(mel.shape)}")
        features = self.trunk(mel)
        return features.mean(dim=(2, 3)), features.mean(dim=2).transpose(1, 2)


class ImageConditionEncoder(nn.Module):
    """ResNet-18-style over an RGB frame (B, 3, H, W) with values in [0, 1]; one token per 32x32 patch."""

    def __init__(self, config: ConditionEncoderConfig) -> None:
        super().__init__()
        self.trunk = ResNetTrunk(3, config.image_base_channels, config.blocks_per_stage, config.norm_groups)
        self.out_channels = self.trunk.out_channels
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (embedding (B, C), tokens (B, H/32 * W/32, C))."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"hint image must be (batch, 3, height, width), got {tuple(image.shape)}")
        features = self.trunk((image - self.mean) / self.std)
        return features.mean(dim=(2, 3)), features.flatten(2).transpose(1, 2)


class ConditionEncoder(nn.Module):
    """Hint clip -> context tokens (B, L, context_dim) for the U-Net's cross-attention.

    Layout: [audio global, audio time tokens..., image global, image patch tokens...] for
    'audio-visual'; each modality alone otherwise. Positions are sinusoidal per modality (any
    length works) plus a learned modality embedding, so late fusion keeps track of which is which.
    """

    def __init__(self, config: ConditionEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or ConditionEncoderConfig()
        d = self.config.context_dim
        self.audio = AudioConditionEncoder(self.config) if self.config.uses_audio else None
        self.audio_proj = nn.Linear(self.audio.out_channels, d) if self.audio is not None else None
        self.image = ImageConditionEncoder(self.config) if self.config.uses_image else None
        self.image_proj = nn.Linear(self.image.out_channels, d) if self.image is not None else None
        self.modality = nn.Parameter(torch.randn(2, d) * 0.02)
        self.null = nn.Parameter(torch.randn(d) * 0.02)

    def _tokens(self, encoded: tuple[Tensor, Tensor], proj: nn.Module, modality: int) -> Tensor:
        embedding, sequence = encoded
        tokens = proj(torch.cat([embedding[:, None], sequence], dim=1))
        pos = position_embedding(tokens.shape[1], tokens.shape[2], tokens.device).to(tokens.dtype)
        return tokens + pos + self.modality[modality]

    def forward(self, audio_mel: Tensor | None = None, image: Tensor | None = None,
                drop_mask: Tensor | None = None) -> Tensor:
        """``drop_mask`` (B,) bool replaces those examples by the null condition (CFG training dropout;
        the caller draws it, so this module holds no random state)."""
        parts: list[Tensor] = []
        if self.audio is not None:
            if audio_mel is None:
                raise ValueError(f"mode {self.config.mode!r} needs audio_mel")
            parts.append(self._tokens(self.audio(audio_mel), self.audio_proj, 0))  # type: ignore[arg-type]
        if self.image is not None:
            if image is None:
                raise ValueError(f"mode {self.config.mode!r} needs image")
            parts.append(self._tokens(self.image(image), self.image_proj, 1))  # type: ignore[arg-type]
        if len(parts) == 2 and parts[0].shape[0] != parts[1].shape[0]:
            raise ValueError(f"audio_mel and image batch sizes differ: {parts[0].shape[0]} vs {parts[1].shape[0]}")
        tokens = torch.cat(parts, dim=1)
        if drop_mask is not None:
            tokens = torch.where(drop_mask.to(tokens.device).view(-1, 1, 1), self.null_like(tokens), tokens)
        return tokens

    def null_like(self, tokens: Tensor) -> Tensor:
        """The unconditional context, shaped like ``tokens`` so both CFG passes fit one batch."""
        return self.null.to(tokens.dtype).expand_as(tokens)

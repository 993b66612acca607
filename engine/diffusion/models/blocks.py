"""Every layer the stylizer's networks share, written once.

The VAE, the U-Net and the ResNet-18-style condition encoders all use the same
pre-activation residual block; the VAE's mid attention and the U-Net's cross-attention are
the same transformer block with or without a context. Tweaks are constructor arguments,
never copies.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    """GroupNorm rather than BatchNorm everywhere: batches are small and CFG doubles them at inference."""
    return nn.GroupNorm(groups, channels, eps=1e-6)


def timestep_embedding(timesteps: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features of (possibly fractional) timesteps, as in DDPM/LDM: cos half first."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def position_embedding(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """(length, dim) sinusoidal positions: any token count works, so hint clips may vary in length."""
    return timestep_embedding(torch.arange(length, device=device), dim)


def zero_(module: nn.Module) -> nn.Module:
    """Zero a residual branch's last layer so a fresh block starts as the identity (LDM practice)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock2d(nn.Module):
    """Pre-activation residual block (norm, SiLU, conv) x 2, optionally strided and time-conditioned.

    ``stride=2`` makes it the downsampling block of a ResNet-18 stage; ``time_dim`` adds the
    diffusion timestep as a per-channel shift between the two convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int, *, time_dim: int | None = None,
                 stride: int = 1, dropout: float = 0.0, zero_init: bool = False) -> None:
        super().__init__()
        self.norm1 = group_norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.time_proj = nn.Linear(time_dim, out_channels) if time_dim else None
        self.norm2 = group_norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if zero_init:
            zero_(self.conv2)
        needs_skip = in_channels != out_channels or stride != 1
        self.skip = nn.Conv2d(in_channels, out_channels, 1, stride=stride) if needs_skip else nn.Identity()

    def forward(self, x: Tensor, time_emb: Tensor | None = None) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_proj is not None:
            if time_emb is None:
                raise ValueError("this block is time-conditioned: time_emb is required")
            h = h + self.time_proj(F.silu(time_emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Downsample2d(nn.Module):
    """Strided conv: learnt, and exact when sizes are even (callers pad to guarantee it)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample2d(nn.Module):
    """Nearest x2 then conv: avoids the checkerboard artefacts of transposed convs on spectrograms."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Attention(nn.Module):
    """Multi-head attention; self-attention when no context is given, cross-attention otherwise."""

    def __init__(self, query_dim: int, num_heads: int, head_dim: int, context_dim: int | None = None) -> None:
        super().__init__()
        inner = num_heads * head_dim
        self.num_heads = num_heads
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim or query_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim or query_dim, inner, bias=False)
        self.to_out = nn.Linear(inner, query_dim)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        context = x if context is None else context
        b, n, _ = x.shape
        q, k, v = (t.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)
                   for t in (self.to_q(x), self.to_k(context), self.to_v(context)))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(b, n, -1))


class FeedForward(nn.Module):
    """GEGLU feed-forward (LDM's): gated, 4x wide."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.proj_in = nn.Linear(dim, 2 * mult * dim)
        self.proj_out = nn.Linear(mult * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        h, gate = self.proj_in(x).chunk(2, dim=-1)
        return self.proj_out(h * F.gelu(gate))


class TransformerBlock(nn.Module):
    """Self-attention, then cross-attention to the condition tokens (if any), then feed-forward."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, context_dim: int | None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = Attention(dim, num_heads, head_dim)
        self.norm2 = nn.LayerNorm(dim) if context_dim else None
        self.cross_attn = Attention(dim, num_heads, head_dim, context_dim) if context_dim else None
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        x = x + self.self_attn(self.norm1(x))
        if self.cross_attn is not None:
            if context is None:
                raise ValueError("this block cross-attends: context is required")
            x = x + self.cross_attn(self.norm2(x), context)  # type: ignore[misc]
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """Applies a transformer block to every (freq, time) cell of a feature map, residually.

    The output projection starts at zero, so adding attention never perturbs a fresh network.
    """

    def __init__(self, channels: int, groups: int, num_heads: int, head_dim: int,
                 context_dim: int | None = None) -> None:
        super().__init__()
        inner = num_heads * head_dim
        self.norm = group_norm(channels, groups)
        self.proj_in = nn.Conv2d(channels, inner, 1)
        self.block = TransformerBlock(inner, num_heads, head_dim, context_dim)
        self.proj_out = zero_(nn.Conv2d(inner, channels, 1))

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        b, _, h, w = x.shape
        tokens = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        tokens = self.block(tokens, context)
        return x + self.proj_out(tokens.transpose(1, 2).reshape(b, -1, h, w))


class ResNetTrunk(nn.Module):
    """ResNet-18 topology (stem, four stages of residual blocks, widths base x 1/2/4/8), /32 overall.

    Pre-activation blocks with GroupNorm instead of the original post-activation BatchNorm,
    so the same residual block serves here and in the generative networks.
    """

    def __init__(self, in_channels: int, base_channels: int, blocks_per_stage: tuple[int, ...], groups: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, base_channels, 7, stride=2, padding=3)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        layers: list[nn.Module] = []
        channels = base_channels
        for stage, count in enumerate(blocks_per_stage):
            out = base_channels * 2 ** stage
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(ResBlock2d(channels, out, groups, stride=stride))
                channels = out
        self.blocks = nn.Sequential(*layers)
        self.norm_out = group_norm(channels, groups)
        self.out_channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(self.norm_out(self.blocks(self.pool(self.stem(x)))))


class ConvNeXtBlock1d(nn.Module):
    """Vocos' backbone block: depthwise conv over frames, LayerNorm, inverted-bottleneck MLP, layer scale."""

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, intermediate_dim)
        self.pw2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm(self.dwconv(x).transpose(1, 2))
        h = self.gamma * self.pw2(F.gelu(self.pw1(h)))
        return x + h.transpose(1, 2)


def pad_to_multiple(x: Tensor, multiple: int, value: float = 0.0) -> Tensor:
    """Pad the last two axes (freq, time) at their ends up to a multiple; callers crop afterwards."""
    pad_h = -x.shape[-2] % multiple
    pad_w = -x.shape[-1] % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), value=value)

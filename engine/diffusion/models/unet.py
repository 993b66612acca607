"""Latent diffusion U-Net of the stylizer: predicts the noise in a latent given the enhanced input.

Input is the noisy latent concatenated with the (clean) latent of the enhanced speech, so
the network only has to add the scene, not reinvent the speech. Conditioning on the hint
clip enters through cross-attention in the deepest three levels on both sides.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.diffusion.config import UNetConfig
from engine.diffusion.models.blocks import Downsample2d, ResBlock2d, SpatialTransformer, Upsample2d, group_norm, \
    pad_to_multiple, timestep_embedding, zero_


class _Level(nn.Module):
    """num_res_blocks residual blocks, each followed by a spatial transformer when the level attends."""

    def __init__(self, in_channels: int, out_channels: int, c: UNetConfig, time_dim: int, attend: bool) -> None:
        super().__init__()
        self.res = nn.ModuleList()
        self.attn = nn.ModuleList()
        for i in range(c.num_res_blocks):
            self.res.append(ResBlock2d(in_channels if i == 0 else out_channels, out_channels, c.norm_groups,
                                       time_dim=time_dim, dropout=c.dropout, zero_init=True))
            self.attn.append(SpatialTransformer(out_channels, c.norm_groups, c.num_heads, c.head_dim, c.context_dim)
                             if attend else nn.Identity())

    def forward(self, x: Tensor, time_emb: Tensor, context: Tensor) -> Tensor:
        for res, attn in zip(self.res, self.attn):
            x = res(x, time_emb)
            x = attn(x, context) if isinstance(attn, SpatialTransformer) else x
        return x


class LatentUNet(nn.Module):
    """eps = unet(noisy_latent, enhanced_latent, timestep, context).

    Shapes: noisy latent (B, stems * latent_channels, F, T), enhanced latent (B, latent_channels, F, T), context (B, L, context_dim), timestep (B,) or
    a scalar. Four down blocks each halve F and T, so both are zero-padded up to a multiple
    of 16 and the output is cropped back: any latent length works.

    ``config.noise_skip``: the network predicts eps - noisy_latent and the input is added back.
    Why: at the noisiest steps eps is x_t to within alpha_t (0.012 at t = 999), and a sampler
    turns the eps error into an x0 error divided by alpha_t. A plain conv stack copies its input
    only to ~2 % RMS after a CPU-sized training run (the first tiny model: eps-MSE 0.025 at
    t = 900, where eps = x_t scores 0.0009), so its first x0 guesses were ~13 latent std off
    and sampling drifted to latents of std 4 (data: 1). With the skip, a zero residual already
    means "x0 = the data mean" at high t, and the loss stays the paper's eps-MSE.
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or UNetConfig()
        widths = [c.base_channels * m for m in c.channel_mults]
        time_dim = 4 * c.base_channels
        self.time_mlp = nn.Sequential(nn.Linear(c.base_channels, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.conv_in = nn.Conv2d(c.in_channels, widths[0], 3, padding=1)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        prev = widths[0]
        for level, width in enumerate(widths):
            self.down.append(_Level(prev, width, c, time_dim, c.cross_attention_down[level]))
            self.downsample.append(Downsample2d(width))
            prev = width

        self.mid_res1 = ResBlock2d(prev, prev, c.norm_groups, time_dim=time_dim, dropout=c.dropout, zero_init=True)
        self.mid_attn = (SpatialTransformer(prev, c.norm_groups, c.num_heads, c.head_dim, c.context_dim)
                         if c.mid_attention else None)
        self.mid_res2 = ResBlock2d(prev, prev, c.norm_groups, time_dim=time_dim, dropout=c.dropout, zero_init=True)

        self.upsample = nn.ModuleList()
        self.up = nn.ModuleList()
        for j, level in enumerate(reversed(range(len(widths)))):
            self.upsample.append(Upsample2d(prev))
            self.up.append(_Level(prev + widths[level], widths[level], c, time_dim, c.cross_attention_up[j]))
            prev = widths[level]

        self.norm_out = group_norm(prev, c.norm_groups)
        self.conv_out = nn.Conv2d(prev, c.noisy_channels, 3, padding=1)
        if c.noise_skip:
            zero_(self.conv_out)  # LDM's zero output conv: a fresh network answers eps = x_t

    def forward(self, noisy_latent: Tensor, enhanced_latent: Tensor, timestep: Tensor | int | float,
                context: Tensor) -> Tensor:
        c = self.config
        if noisy_latent.ndim != 4 or enhanced_latent.ndim != 4 or noisy_latent.shape[1] != c.noisy_channels \
                or enhanced_latent.shape[1] != c.latent_channels \
                or noisy_latent.shape[0] != enhanced_latent.shape[0] or noisy_latent.shape[2:] != enhanced_latent.shape[2:]:
            raise ValueError(f"noisy_latent must be (batch, {c.noisy_channels}, F, T) and enhanced_latent "
                             f"(batch, {c.latent_channels}, F, T); "
                             f"got {tuple(noisy_latent.shape)} and {tuple(enhanced_latent.shape)}")
        if context.ndim != 3 or context.shape[0] != noisy_latent.shape[0] or context.shape[2] != c.context_dim:
            raise ValueError(f"context must be (batch={noisy_latent.shape[0]}, tokens, {c.context_dim}), "
                             f"got {tuple(context.shape)}")
        batch, _, height, width = noisy_latent.shape
        t = torch.as_tensor(timestep, device=noisy_latent.device).reshape(-1).expand(batch)
        time_emb = self.time_mlp(timestep_embedding(t, c.base_channels).to(noisy_latent.dtype))

        h = self.conv_in(pad_to_multiple(torch.cat([noisy_latent, enhanced_latent], dim=1), c.size_multiple))
        skips: list[Tensor] = []
        for level, down in zip(self.down, self.downsample):
            h = level(h, time_emb, context)
            skips.append(h)
            h = down(h)

        h = self.mid_res1(h, time_emb)
        if self.mid_attn is not None:
            h = self.mid_attn(h, context)
        h = self.mid_res2(h, time_emb)

        for up, level in zip(self.upsample, self.up):
            h = level(torch.cat([up(h), skips.pop()], dim=1), time_emb, context)

        out = self.conv_out(F.silu(self.norm_out(h)))[:, :, :height, :width]
        return out + noisy_latent if c.noise_skip else out

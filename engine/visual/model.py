"""Networks of the audio-driven stylizer: audio encoder, generator, early-fusion discriminator.

Layers only; losses and the loop live in losses.py and train.py (models never import their driver).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class VisualConfig:
    """Sizes of the three networks; ``debug()`` is the CPU-test size."""

    image_px: int = 128
    n_mels: int = 64
    sample_rate_hz: int = 16000
    window_s: float = 2.0
    audio_channels: tuple[int, ...] = (16, 32, 64, 128)  # ResNet-18 layout: 4 stages x 2 basic blocks
    embed_dim: int = 128
    ngf: int = 16
    enc_blocks: int = 2  # audio-free residual blocks (their features feed PatchNCE)
    dec_blocks: int = 3  # audio-modulated residual blocks
    ndf: int = 32
    disc_audio_channels: int = 16  # channels of the tiled audio map concatenated with RGB (early fusion)
    conditioner: str = "audio"  # "audio" or "label" (the baseline: a one-hot scene label)
    num_labels: int = 6
    # Recipe v2 (issue 16 follow-up); packages written before it lack these keys and load as v1:
    audio_norm: str = "group"  # "group" (per example, same in train and eval) or "batch" (v1)
    spectrum_skip: bool = True  # the band-wise mean log-mel (timbre + level) also feeds the embedding
    film_up: bool = True  # the embedding also modulates the upsampling layers (after their norms)
    # Recipe v3: a per-pixel noise map enters the full-resolution decoder layer, scaled per channel by
    # the sound (StyleGAN's noise inputs). Packages written before it lack the key and load without.
    noise: bool = True

    @staticmethod
    def debug() -> "VisualConfig":
        return VisualConfig(image_px=32, n_mels=16, window_s=0.5, audio_channels=(4, 8), embed_dim=16, ngf=4,
                            enc_blocks=1, dec_blocks=1, ndf=4, disc_audio_channels=2)

    def to_dict(self) -> dict:
        return {**asdict(self), "audio_channels": list(self.audio_channels)}

    @staticmethod
    def from_dict(d: dict) -> "VisualConfig":
        # keys a package predates load as that package's recipe: v1 had none of these, v2 no noise
        legacy = {"audio_norm": "batch", "spectrum_skip": False, "film_up": False, "noise": False}
        return VisualConfig(**{**legacy, **d, "audio_channels": tuple(d["audio_channels"])})


def _norm(kind: str, ch: int) -> nn.Module:
    """BatchNorm (v1) or GroupNorm: with batches of 4, BatchNorm made each embedding depend on the other
    pairs of the batch in training and on running averages in use, so the sound's code drifted."""
    return nn.BatchNorm2d(ch) if kind == "batch" else nn.GroupNorm(min(4, ch), ch)


class BasicBlock(nn.Module):
    """ResNet-18's basic block (two 3x3 convs, a projected shortcut when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str = "batch") -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), _norm(norm, cout), nn.ReLU(True),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), _norm(norm, cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _norm(norm, cout)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class AudioEncoder(nn.Module):
    """A small ResNet-18-class encoder over the log-mel (1, n_mels, frames) -> (embed_dim,).

    No level normalisation of the input: loudness must reach the embedding, so louder rain can mean
    more rain. GroupNorm inside the ResNet normalises away the absolute level, so (``spectrum_skip``)
    the band-wise time-mean of the log-mel -- the sound's spectrum, level included -- joins the pooled
    ResNet features before the output layer: timbre and loudness reach the embedding from step 0."""

    def __init__(self, c: VisualConfig) -> None:
        super().__init__()
        ch = c.audio_channels
        layers: list[nn.Module] = [nn.Conv2d(1, ch[0], 3, 1, 1, bias=False), _norm(c.audio_norm, ch[0]), nn.ReLU(True)]
        cin = ch[0]
        for i, cout in enumerate(ch):
            layers += [BasicBlock(cin, cout, 1 if i == 0 else 2, c.audio_norm), BasicBlock(cout, cout, 1, c.audio_norm)]
            cin = cout
        self.net = nn.Sequential(*layers)
        self.spectrum_skip = c.spectrum_skip
        self.out = nn.Linear(cin + (c.n_mels if c.spectrum_skip else 0), c.embed_dim)

    def forward(self, mel: Tensor) -> Tensor:
        h = self.net(mel).mean(dim=(2, 3))
        if self.spectrum_skip:
            h = torch.cat([h, mel.mean(dim=-1).flatten(1)], dim=1)
        return self.out(h)


class LabelEncoder(nn.Module):
    """The baseline's conditioner: a one-hot scene label instead of the sound."""

    def __init__(self, c: VisualConfig) -> None:
        super().__init__()
        self.out = nn.Linear(c.num_labels, c.embed_dim)

    def forward(self, onehot: Tensor) -> Tensor:
        return self.out(onehot)


def make_conditioner(c: VisualConfig) -> nn.Module:
    if c.conditioner not in ("audio", "label"):
        raise ValueError(f"conditioner must be 'audio' or 'label', got {c.conditioner!r}")
    return AudioEncoder(c) if c.conditioner == "audio" else LabelEncoder(c)


class ResBlock(nn.Module):
    """CycleGAN's residual block; with ``embed_dim`` the embedding sets a per-channel scale and shift
    after each norm (how the sound enters the decoder)."""

    def __init__(self, ch: int, embed_dim: int = 0) -> None:
        super().__init__()
        self.c1 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))
        self.c2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))
        self.film = nn.Linear(embed_dim, 4 * ch) if embed_dim else None

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        h = self.c1(x)
        if self.film is not None:
            g1, b1, g2, b2 = self.film(emb)[:, :, None, None].chunk(4, dim=1)
            h = h * (1 + g1) + b1
        h = self.c2(torch.relu(h))
        if self.film is not None:
            h = h * (1 + g2) + b2
        return x + h


class StyleGenerator(nn.Module):
    """ResNet encoder-decoder (CycleGAN/CUT). The encoder is audio-free so PatchNCE can compare the
    same layers on input and output; the decoder is modulated by the embedding.

    Our choice: the output is input + a predicted change (not a fresh tanh image), so an untrained
    net is the identity and CPU training spends its steps on the style, not on relearning the scene."""

    def __init__(self, c: VisualConfig) -> None:
        super().__init__()
        f = c.ngf
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, f, 7), nn.InstanceNorm2d(f), nn.ReLU(True))
        self.down1 = nn.Sequential(nn.Conv2d(f, 2 * f, 3, 2, 1), nn.InstanceNorm2d(2 * f), nn.ReLU(True))
        self.down2 = nn.Sequential(nn.Conv2d(2 * f, 4 * f, 3, 2, 1), nn.InstanceNorm2d(4 * f), nn.ReLU(True))
        self.enc = nn.ModuleList(ResBlock(4 * f) for _ in range(c.enc_blocks))
        self.dec = nn.ModuleList(ResBlock(4 * f, c.embed_dim) for _ in range(c.dec_blocks))
        self.up = nn.Sequential(
            nn.ConvTranspose2d(4 * f, 2 * f, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(2 * f), nn.ReLU(True),
            nn.ConvTranspose2d(2 * f, f, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(f), nn.ReLU(True),
            nn.ReflectionPad2d(3), nn.Conv2d(f, 3, 7))
        # v1 put the sound only before these InstanceNorms, which remove each channel's mean and scale
        # per picture: a sound-driven global shift (rain's darkness, wind's haze) was normalised away.
        # With film_up the embedding sets scale and shift after each of them (AdaIN-style).
        self.up_film = nn.ModuleList([nn.Linear(c.embed_dim, 4 * f), nn.Linear(c.embed_dim, 2 * f)]) \
            if c.film_up else None
        nn.init.zeros_(self.up[-1].weight)
        nn.init.zeros_(self.up[-1].bias)
        # A conv net turns a smooth sky into a smooth sky: sparse random texture (rain streaks) needs a
        # random source. The sound sets each channel's noise strength (zero at first: v2's function),
        # and a ReLU after it lets a (sound-set) shift threshold the noise into sparse strokes.
        self.noise_scale = nn.Linear(c.embed_dim, f) if c.noise else None
        if self.noise_scale is not None:
            nn.init.zeros_(self.noise_scale.weight)
            nn.init.zeros_(self.noise_scale.bias)

    def encode(self, x: Tensor) -> list[Tensor]:
        """Features of the PatchNCE layers: stem, both downsamplings, each encoder block."""
        feats = [self.stem(x)]
        feats.append(self.down1(feats[-1]))
        feats.append(self.down2(feats[-1]))
        h = feats[-1]
        for blk in self.enc:
            h = blk(h)
            feats.append(h)
        return feats

    def forward(self, x: Tensor, emb: Tensor, feats: list[Tensor] | None = None,
                noise: Tensor | None = None) -> Tensor:
        """x in [-1, 1] (B, 3, H, W), H and W multiples of 4; emb (B, embed_dim). ``feats``: a list that
        receives ``encode(x)`` (training reuses them as PatchNCE's keys instead of encoding x again).
        ``noise`` (B, 1, H, W): the noise input; None draws a fixed one (seed 0), so the same picture
        and sound always give the same output and a video's frames share one rain pattern."""
        enc = self.encode(x)
        if feats is not None:
            feats.extend(enc)
        h = enc[-1]
        for blk in self.dec:
            h = blk(h, emb)
        if self.up_film is None:
            return x + self.up(h)
        for i, layer in enumerate(self.up):
            h = layer(h)
            if isinstance(layer, nn.InstanceNorm2d):
                g, b = self.up_film[i // 3](emb)[:, :, None, None].chunk(2, dim=1)
                h = h * (1 + g) + b
                if self.noise_scale is not None and h.shape[-2:] == x.shape[-2:]:
                    h = h + self.noise_scale(emb)[:, :, None, None] * self._noise(x, noise)
        return x + h

    @staticmethod
    def _noise(x: Tensor, noise: Tensor | None) -> Tensor:
        if noise is not None:
            return noise
        g = torch.Generator().manual_seed(0)
        return torch.randn((1, 1, *x.shape[-2:]), generator=g).to(x.device).expand(x.shape[0], -1, -1, -1)


class AVDiscriminator(nn.Module):
    """PatchGAN over [RGB, tiled audio map]: early fusion, the sound enters with the pixels (the paper
    finds late fusion collapses). It has its own conditioner, trained by its own loss."""

    def __init__(self, c: VisualConfig) -> None:
        super().__init__()
        self.cond = make_conditioner(c)
        self.proj = nn.Linear(c.embed_dim, c.disc_audio_channels)
        d = c.ndf
        self.net = nn.Sequential(
            nn.Conv2d(3 + c.disc_audio_channels, d, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(d, 2 * d, 4, 2, 1), nn.InstanceNorm2d(2 * d), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * d, 4 * d, 4, 2, 1), nn.InstanceNorm2d(4 * d), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * d, 4 * d, 4, 1, 1), nn.InstanceNorm2d(4 * d), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * d, 1, 4, 1, 1))

    def forward(self, image: Tensor, condition: Tensor) -> Tensor:
        return self.score(image, self.cond(condition))

    def score(self, image: Tensor, emb: Tensor) -> Tensor:
        """The patch scores for an embedding from ``self.cond`` (training computes it once per step)."""
        a = self.proj(emb)[:, :, None, None].expand(-1, -1, *image.shape[-2:])
        return self.net(torch.cat([image, a], dim=1))


class PatchProjector(nn.Module):
    """CUT's per-layer two-layer MLP heads mapping sampled patch features to the NCE space."""

    def __init__(self, channels: list[int], dim: int = 64) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Sequential(nn.Linear(ch, dim), nn.ReLU(True), nn.Linear(dim, dim))
                                   for ch in channels)

    def forward(self, feats: list[Tensor], num_patches: int, ids: list[Tensor] | None,
                generator: torch.Generator | None = None) -> tuple[list[Tensor], list[Tensor]]:
        """Sample the same ``ids`` (or new ones) from every layer; returns normalised (B, P, dim) and the ids."""
        out, used = [], []
        for k, (f, head) in enumerate(zip(feats, self.heads)):
            flat = f.flatten(2).transpose(1, 2)  # (B, HW, C)
            if ids is None:
                idx = torch.randperm(flat.shape[1], generator=generator)[:num_patches].to(f.device)
            else:
                idx = ids[k]
            used.append(idx)
            out.append(nn.functional.normalize(head(flat[:, idx]), dim=-1))
        return out, used


def nce_channels(c: VisualConfig) -> list[int]:
    f = c.ngf
    return [f, 2 * f, 4 * f] + [4 * f] * c.enc_blocks

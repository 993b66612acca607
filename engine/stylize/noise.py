"""The renderer's noise, drawn by absolute position so that overlapping windows agree.

* ``latent_noise``: each window's initial latent noise, cut from ONE long sequence over latent
  frames, drawn in chunks of ``NOISE_CHUNK_FRAMES`` from (seed, chunk): overlapping windows start
  from identical noise where they overlap.
* ``input_noise``: enhancement H at inference. The dry dialogue is already "enhanced" (clean,
  close, dry), so H is the identity plus the training's light Gaussian noise (``INPUT_NOISE_STD``,
  the default of engine.train.enhance), drawn per absolute model-rate sample.
"""

from __future__ import annotations

import numpy as np
import torch

INPUT_NOISE_STD = 1e-3
NOISE_CHUNK_FRAMES = 64


def seed_of(*parts: int) -> int:
    """A 63-bit seed from integer parts (numpy's SeedSequence: well mixed, platform independent)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint32).view(np.uint64)[0]
               % (2**63 - 1))


def latent_noise(seed: int, start_frame: int, frames: int, shape: tuple[int, int]) -> torch.Tensor:
    """(channels, height, frames) standard normal noise cut from one infinite sequence over latent frames."""
    out = []
    first, last = start_frame // NOISE_CHUNK_FRAMES, (start_frame + frames - 1) // NOISE_CHUNK_FRAMES
    for chunk in range(first, last + 1):
        g = torch.Generator(device="cpu").manual_seed(seed_of(seed, 1, chunk))
        out.append(torch.randn((*shape, NOISE_CHUNK_FRAMES), generator=g, dtype=torch.float32))
    noise = torch.cat(out, dim=-1)
    offset = start_frame - first * NOISE_CHUNK_FRAMES
    return noise[..., offset: offset + frames]


def input_noise(seed: int, start: int, n: int, std: float, chunk: int = 16000) -> np.ndarray:
    """Gaussian noise for absolute samples [start, start + n) of the model-rate input."""
    if n <= 0:
        return np.zeros(0, np.float32)
    parts = []
    first, last = start // chunk, (start + n - 1) // chunk
    for k in range(first, last + 1):
        parts.append(np.random.default_rng([seed, 2, k]).standard_normal(chunk).astype(np.float32))
    noise = np.concatenate(parts)[start - first * chunk: start - first * chunk + n]
    return (noise * np.float32(std)).astype(np.float32)

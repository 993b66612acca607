"""Read the prepared shards, and choose batches as a pure function of (seed, step).

Batches being a function of the step (not of an iterator's history) is what makes a resumed
run bit-identical to an uninterrupted one, and what lets every DDP rank pick its own slice of
the same global batch without talking to the others.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from engine.train.prepare import INDEX


class PairCache(Dataset):
    """One split of a prepared cache; items are dicts of tensors (waves float32, image float [0, 1]).

    Shards are opened with safetensors' ``safe_open`` and read row by row, so a cache far larger
    than memory works; ``image_px`` resizes the stored stills to the model's size.
    """

    def __init__(self, cache_dir: str | Path, split: str = "train", image_px: int | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.index = json.loads((self.cache_dir / INDEX).read_text(encoding="utf-8"))
        self.split = split
        self.image_px = image_px
        self.with_images = bool(self.index["with_images"])
        self.sample_rate_hz = int(self.index["sample_rate_hz"])
        self.window_samples = int(self.index["window_samples"])
        self._rows: list[tuple[int, int]] = []
        self._files = [self.cache_dir / s["file"] for s in self.index["shards"][split]]
        for k, shard in enumerate(self.index["shards"][split]):
            self._rows.extend((k, r) for r in range(shard["examples"]))
        self._handles: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def _handle(self, shard: int):
        from safetensors import safe_open

        if shard not in self._handles:
            self._handles[shard] = safe_open(str(self._files[shard]), framework="pt", device="cpu")
        return self._handles[shard]

    def __getstate__(self) -> dict:  # DataLoader workers open their own handles
        return {**self.__dict__, "_handles": {}}

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        shard, row = self._rows[i]
        f = self._handle(shard)
        item = {k: f.get_slice(k)[row:row + 1][0] for k in ("target", "enhanced", "condition")}
        if self.with_images:
            image = f.get_slice("image")[row:row + 1].float() / 255.0
            if self.image_px is not None and image.shape[-1] != self.image_px:
                image = torch.nn.functional.interpolate(image, size=(self.image_px, self.image_px), mode="bilinear",
                                                        antialias=True, align_corners=False).clamp(0, 1)
            item["image"] = image[0]
        return item

    def batch(self, indices: list[int]) -> dict[str, Tensor]:
        items = [self[i] for i in indices]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def step_generator(seed: int, step: int, stream: int) -> torch.Generator:
    """An independent CPU generator per (seed, step, stream): data order, noise, timesteps, drops."""
    g = torch.Generator(device="cpu")
    g.manual_seed((seed * 1_000_003 + step) * 16 + stream)
    return g


def batch_indices(num_examples: int, batch_size: int, seed: int, step: int, rank: int = 0,
                  world_size: int = 1) -> list[int]:
    """The global batch of ``step`` (drawn with replacement), this rank's strided share of it."""
    if num_examples <= 0:
        raise ValueError("the dataset is empty")
    g = step_generator(seed, step, stream=0)
    chosen = torch.randint(0, num_examples, (batch_size * world_size,), generator=g).tolist()
    return chosen[rank::world_size]


class StepBatchSampler(Sampler[list[int]]):
    """Yields ``batch_indices`` for steps start..stop-1, so a DataLoader with workers prefetches
    exactly the batches the loop would have picked itself."""

    def __init__(self, num_examples: int, batch_size: int, seed: int, start_step: int, stop_step: int,
                 rank: int = 0, world_size: int = 1) -> None:
        self.args = (num_examples, batch_size, seed)
        self.start_step, self.stop_step, self.rank, self.world_size = start_step, stop_step, rank, world_size

    def __len__(self) -> int:
        return max(0, self.stop_step - self.start_step)

    def __iter__(self) -> Iterator[list[int]]:
        n, b, seed = self.args
        for step in range(self.start_step, self.stop_step):
            yield batch_indices(n, b, seed, step, self.rank, self.world_size)


def collate(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}

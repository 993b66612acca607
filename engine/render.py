"""The small interface every engine implements, so the batch runner never knows which one runs.

A renderer is created once per file (it may hold filter state and random streams) and fed the
file's blocks in order. It may delay its output (latency_frames); the runner drops that many
leading frames and calls flush() at the end, so every output has exactly the input's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

STEM_NAMES = ("dialogue", "reverb", "ambience")


@dataclass
class Stems:
    """Three aligned (frames, channels) float32 arrays whose sum is the mix."""

    dialogue: np.ndarray
    reverb: np.ndarray
    ambience: np.ndarray

    @property
    def mix(self) -> np.ndarray:
        return self.dialogue + self.reverb + self.ambience

    def __len__(self) -> int:
        return len(self.dialogue)

    @classmethod
    def concatenate(cls, parts: list["Stems"], channels: int) -> "Stems":
        if not parts:
            empty = np.zeros((0, channels), np.float32)
            return cls(empty, empty.copy(), empty.copy())
        return cls(*(np.concatenate([getattr(p, n) for p in parts]) for n in STEM_NAMES))


@dataclass(frozen=True)
class SourceInfo:
    """What a renderer may know about the whole file before the first block arrives."""

    sample_rate_hz: int
    channels: int
    frames: int
    loudness_lufs: float  # integrated loudness of the dry dialogue (sets the ambience level)


class Renderer(Protocol):
    latency_frames: int

    def process(self, block: np.ndarray) -> Stems:
        """Consume (n, channels) input frames; return the next output frames (maybe fewer)."""
        ...

    def flush(self) -> Stems:
        """Return what is still owed after the last block (at least latency_frames frames)."""
        ...

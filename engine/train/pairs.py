"""Pretext pairs: two non-overlapping windows (target, condition) from one clip of one recording.

The self-supervised task only works if the condition window never contains the target's own
samples: otherwise the model learns to copy instead of to transfer the scene. The sampler
therefore places the two windows by construction, never by rejection:

    slack = clip - 2 * window - gap >= 0
    u1 <= u2 drawn from [0, slack]            (two integers, sorted)
    first  = [u1, u1 + window)
    second = [u2 + window + gap, u2 + 2 * window + gap)

so second.start - first.stop = u2 - u1 + gap >= gap >= 0 for every draw. Which of the two is
the target is a fair coin, so neither role is biased towards the start of the clip. The pairs
are uniform over all admissible placements of an ordered (earlier, later) pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLIP_S = 10.0  # recordings are cut into clips of this length; VAD judges clips
WINDOW_S = 2.56  # AudioLDM's segment: 256 mel frames at hop 160, 16 kHz


@dataclass(frozen=True)
class Span:
    """Half-open sample range [start, stop)."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    def overlaps(self, other: "Span") -> bool:
        return self.start < other.stop and other.start < self.stop


@dataclass(frozen=True)
class WindowPair:
    """Target and condition windows (samples, relative to the clip start), plus the sample at
    which the condition's video frame is taken (inside the condition window)."""

    target: Span
    condition: Span
    frame_sample: int


class PretextSampler:
    """Draws WindowPairs inside a clip; see the module docstring for the non-overlap proof."""

    def __init__(self, window_samples: int, min_gap_samples: int = 0) -> None:
        if window_samples <= 0 or min_gap_samples < 0:
            raise ValueError(f"need window_samples > 0 and min_gap_samples >= 0, got {window_samples}, "
                             f"{min_gap_samples}")
        self.window_samples = int(window_samples)
        self.min_gap_samples = int(min_gap_samples)

    @property
    def min_clip_samples(self) -> int:
        return 2 * self.window_samples + self.min_gap_samples

    def fits(self, clip_samples: int) -> bool:
        return clip_samples >= self.min_clip_samples

    def sample(self, clip_samples: int, rng: np.random.Generator) -> WindowPair:
        if not self.fits(clip_samples):
            raise ValueError(f"a clip of {clip_samples} samples cannot hold two windows of {self.window_samples} "
                             f"with a gap of {self.min_gap_samples}")
        w, gap = self.window_samples, self.min_gap_samples
        slack = clip_samples - 2 * w - gap
        u1, u2 = sorted(int(v) for v in rng.integers(0, slack + 1, size=2))
        first = Span(u1, u1 + w)
        second = Span(u2 + w + gap, u2 + 2 * w + gap)
        target, condition = (first, second) if rng.random() < 0.5 else (second, first)
        frame = condition.start + int(rng.integers(0, w))
        return WindowPair(target, condition, frame)


def split_clips(num_samples: int, clip_samples: int, min_samples: int) -> list[Span]:
    """Consecutive clips of ``clip_samples``; a shorter tail is kept if it holds ``min_samples``."""
    if clip_samples <= 0:
        raise ValueError(f"clip_samples must be positive, got {clip_samples}")
    spans = []
    for start in range(0, num_samples, clip_samples):
        stop = min(num_samples, start + clip_samples)
        if stop - start >= min_samples:
            spans.append(Span(start, stop))
    return spans

"""Overlap-add of a window-wise model over a long signal: the ONE place windows are cut and joined.

The stylizer sees fixed windows (2.56 s); a file is longer. ``OverlapAdd`` cuts windows of
``window`` samples every ``hop`` samples, runs a model on a batch of them at once, and joins the
outputs demucs-style: each output window is weighted by a triangular ramp and the sum is divided by
the sum of the weights, so

* an identity model reconstructs the input exactly (the weights cancel), whatever the length;
* at a seam the output fades linearly from one window's output to the next one's, so a model whose
  windows disagree slightly gives a crossfade, never a step.

It streams: ``push`` returns the output that no later window can change (everything before the start
of the next window), ``finish`` zero-pads the tail into whole windows and returns the rest, so the
concatenated output has exactly the input's length. Leading axes (channels) ride along unchanged.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

# fn(windows (B, ..., window), starts: absolute sample index of each window) -> (B, ..., window)
WindowFn = Callable[[np.ndarray, list[int]], np.ndarray]


def triangular_weights(window: int) -> np.ndarray:
    """Strictly positive ramp up then down (demucs' weighting); never zero, so any coverage divides."""
    i = np.arange(window, dtype=np.float64)
    return np.minimum(i + 1.0, window - i) / math.ceil(window / 2)


def window_starts(num_samples: int, window: int, hop: int) -> list[int]:
    """Starts of the windows that cover [0, num_samples): the last one may run past the end."""
    if num_samples <= 0:
        return []
    count = 1 + max(0, math.ceil((num_samples - window) / hop))
    return [k * hop for k in range(count)]


class OverlapAdd:
    def __init__(self, window: int, hop: int, fn: WindowFn, batch: int = 4) -> None:
        if not 0 < hop <= window:
            raise ValueError(f"need 0 < hop <= window, got hop={hop}, window={window}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.window, self.hop, self.fn, self.batch = window, hop, fn, batch
        self.weights = triangular_weights(window)
        self._lead: tuple[int, ...] | None = None
        self._in = np.zeros(0)  # input from absolute sample self._in_start on
        self._in_start = 0
        self._total = 0  # samples pushed so far
        self._next = 0  # index of the next window to run
        self._acc = np.zeros(0)  # weighted sum, from absolute sample self._out_start (= emitted) on
        self._wsum = np.zeros(0)
        self._out_start = 0
        self._finished = False

    # -- public -----------------------------------------------------------------------------

    def push(self, x: np.ndarray) -> np.ndarray:
        """Feed (..., n) samples; returns the (..., m) output that is final (m may be 0)."""
        if self._finished:
            raise RuntimeError("push after finish")
        x = np.asarray(x, dtype=np.float64)
        if self._lead is None:
            self._lead = x.shape[:-1]
            self._in = np.zeros((*self._lead, 0))
            self._acc = np.zeros((*self._lead, 0))
        elif x.shape[:-1] != self._lead:
            raise ValueError(f"expected leading shape {self._lead}, got {x.shape[:-1]}")
        self._in = np.concatenate([self._in, x], axis=-1)
        self._total += x.shape[-1]
        # Run only whole batches while streaming: a U-Net call on 1 window costs nearly as much as on 4.
        while self._ready() >= self.batch:
            self._run(self.batch)
        return self._emit(self._next * self.hop)

    def finish(self) -> np.ndarray:
        """Zero-pad the tail, run the remaining windows, return everything still owed."""
        if self._finished:
            return np.zeros((*(self._lead or ()), 0))
        self._finished = True
        if self._lead is None or self._total == 0:
            return np.zeros((*(self._lead or ()), 0))
        remaining = len(window_starts(self._total, self.window, self.hop)) - self._next
        while remaining > 0:
            n = min(self.batch, remaining)
            self._run(n, pad=True)
            remaining -= n
        return self._emit(self._total)

    # -- internals ----------------------------------------------------------------------------

    def _ready(self) -> int:
        """Windows lying wholly inside the input so far and not yet run."""
        if self._total < self.window:
            return 0
        return (self._total - self.window) // self.hop + 1 - self._next

    def _run(self, n: int, pad: bool = False) -> None:
        starts = [(self._next + k) * self.hop for k in range(n)]
        end = starts[-1] + self.window
        have = self._in_start + self._in.shape[-1]
        if end > have:
            if not pad:
                raise AssertionError("window past the input while streaming")
            self._in = np.concatenate([self._in, np.zeros((*self._lead, end - have))], axis=-1)  # type: ignore[misc]
        windows = np.stack([self._in[..., s - self._in_start: s - self._in_start + self.window] for s in starts])
        out = np.asarray(self.fn(windows.astype(np.float32), starts), dtype=np.float64)
        if out.shape != windows.shape:
            raise ValueError(f"window model returned shape {out.shape}, expected {windows.shape}")
        need = end - self._out_start
        if self._acc.shape[-1] < need:
            grow = need - self._acc.shape[-1]
            self._acc = np.concatenate([self._acc, np.zeros((*self._lead, grow))], axis=-1)  # type: ignore[misc]
            self._wsum = np.concatenate([self._wsum, np.zeros(grow)])
        for s, o in zip(starts, out):
            a = s - self._out_start
            self._acc[..., a: a + self.window] += o * self.weights
            self._wsum[a: a + self.window] += self.weights
        self._next += n
        # Input before the next window's start is never read again.
        drop = self._next * self.hop - self._in_start
        if drop > 0:
            self._in = self._in[..., drop:]
            self._in_start += drop

    def _emit(self, upto: int) -> np.ndarray:
        upto = min(upto, self._total)
        n = upto - self._out_start
        if n <= 0:
            return np.zeros((*self._lead, 0))  # type: ignore[misc]
        out = self._acc[..., :n] / self._wsum[:n]
        self._acc, self._wsum = self._acc[..., n:], self._wsum[n:]
        self._out_start = upto
        return out


def overlap_add(x: np.ndarray, window: int, hop: int, fn: WindowFn, batch: int = 4) -> np.ndarray:
    """One-shot convenience: the same output as streaming ``x`` through ``OverlapAdd`` in any blocks."""
    ola = OverlapAdd(window, hop, fn, batch)
    return np.concatenate([ola.push(x), ola.finish()], axis=-1)

"""CUDA graph capture of a tensor function, one graph per input shape signature.

Why: a diffusion render calls the U-Net with the same shapes hundreds of times per window
batch; for a small network each call is dozens of short kernels whose launch cost (~5 us each)
rivals their run time, and a replayed graph launches them all at once. Shapes change only at a
file's last, partial batch, so a handful of graphs covers a whole render.

Opt-in (``ROOMTONE_CUDA_GRAPHS=1``): it is unmeasured on a GPU in this repository, and a capture
pins memory per shape. Any capture failure falls back to eager calls with one log line.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Callable

import torch
from torch import Tensor

log = logging.getLogger("roomtone.runtime")
MAX_GRAPHS = 8  # shape signatures kept; each holds its static buffers and the graph's memory pool
WARMUP_CALLS = 2  # eager runs on a side stream before capture (cuDNN/cuBLAS pick their kernels)


def shape_key(tensors: tuple[Tensor, ...]) -> tuple:
    return tuple((tuple(t.shape), t.dtype, t.device) for t in tensors)


class GraphedCallable:
    """fn(*tensors) -> tensor, replayed from a captured graph for each new shape signature."""

    def __init__(self, fn: Callable[..., Tensor], max_graphs: int = MAX_GRAPHS) -> None:
        self.fn = fn
        self.max_graphs = max_graphs
        self._graphs: OrderedDict[tuple, tuple[torch.cuda.CUDAGraph, tuple[Tensor, ...], Tensor]] = OrderedDict()
        self.disabled = False

    def __call__(self, *inputs: Tensor) -> Tensor:
        if self.disabled or not all(t.is_cuda for t in inputs):
            return self.fn(*inputs)
        key = shape_key(inputs)
        entry = self._graphs.get(key)
        if entry is None:
            try:
                entry = self._capture(inputs)
            except RuntimeError as exc:  # capture is best effort: fall back for good, say it once
                self.disabled = True
                log.warning("CUDA graph capture failed (%s); running the U-Net eagerly", exc)
                return self.fn(*inputs)
            self._graphs[key] = entry
            while len(self._graphs) > self.max_graphs:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(key)
        graph, static_in, static_out = entry
        for buf, x in zip(static_in, inputs):
            buf.copy_(x)
        graph.replay()
        return static_out.clone()

    def _capture(self, inputs: tuple[Tensor, ...]):
        static_in = tuple(x.clone() for x in inputs)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(WARMUP_CALLS):
                self.fn(*static_in)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.fn(*static_in)
        return graph, static_in, static_out

"""Throughput mode: windows of several files rendered concurrently share one network batch.

Why: a U-Net call on a GPU costs nearly the same for 4 windows as for 64, and one file rarely has
64 windows ready at once (it streams block by block). So the batch runner renders several files
at a time, each in its own thread with its own DiffusionRenderer (streaming, bounded memory,
its own output file), and their OverlapAdd window calls meet here: a call blocks until the pooled
batch it joined has run, then gets exactly its own windows back.

When a batch runs: as soon as ``max_windows`` windows are waiting, or every file thread is
waiting (no more windows can arrive), whichever comes first. Each file thread has at most one
call outstanding, so at most ``files in flight x windows_per_file`` windows are ever pooled:
memory is bounded by construction, independent of file count and length.

Determinism: a window's result depends only on its own input, start noise (cut by absolute
latent frame from the file's seed) and condition, never on its batch mates, so a file renders
the same as on its own up to float rounding of differently sized matrix products (the tests
bound it). DDIM with eta > 0 draws per-call noise and is not used by the renderer.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class _Request:
    stylizer: object  # engine.stylize.stylizer.WindowStylizer
    windows: np.ndarray
    starts: list[int]
    file: int
    result: np.ndarray | None = None
    error: BaseException | None = None

    @property
    def key(self) -> tuple:
        return (*self.stylizer.batch_key, tuple(self.stylizer.condition.shape[1:]), self.windows.shape[-1])


@dataclass
class BatchStats:
    """What a run pooled: for tests (structure) and the benchmark."""

    batches: list[tuple[int, int]] = field(default_factory=list)  # (windows, distinct files) per network batch
    max_pending_windows: int = 0
    max_files_in_flight: int = 0


class WindowBatcher:
    def __init__(self, max_windows: int, windows_per_file: int = 4) -> None:
        if max_windows < 1 or windows_per_file < 1:
            raise ValueError(f"max_windows and windows_per_file must be >= 1, got {max_windows}, {windows_per_file}")
        self.max_windows = int(max_windows)
        self.windows_per_file = min(int(windows_per_file), self.max_windows)
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._active = 0  # file threads rendering now
        self._waiting = 0  # of them, blocked in a window call
        self._running = False
        self._files = threading.local()
        self._next_file = 0
        self.stats = BatchStats()

    @contextmanager
    def participant(self):
        """Wrap one file's render: while inside, the batcher waits for this thread's windows."""
        with self._cond:
            self._active += 1
            self._files.id = self._next_file
            self._next_file += 1
            self.stats.max_files_in_flight = max(self.stats.max_files_in_flight, self._active)
        try:
            yield self
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()  # those still waiting may now be all there is

    def client(self, stylizer):
        """The OverlapAdd window function for one file's stylizer."""
        def fn(windows: np.ndarray, starts: list[int]) -> np.ndarray:
            return self.submit(stylizer, windows, starts)

        return fn

    def submit(self, stylizer, windows: np.ndarray, starts: list[int]) -> np.ndarray:
        request = _Request(stylizer, windows, list(starts), getattr(self._files, "id", -1))
        with self._cond:
            self._pending.append(request)
            self.stats.max_pending_windows = max(self.stats.max_pending_windows,
                                                 sum(len(r.windows) for r in self._pending))
            self._waiting += 1
            try:
                while request.result is None and request.error is None:
                    if not self._running and self._pending and self._due():
                        batch = self._take()
                        self._running = True
                        self._cond.release()
                        try:
                            self._run(batch)
                        finally:
                            self._cond.acquire()
                            self._running = False
                            self._cond.notify_all()
                    else:
                        self._cond.wait()
            finally:
                self._waiting -= 1
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    # -- internals (called with the lock held, except _run) ----------------------------------------

    def _due(self) -> bool:
        pooled = sum(len(r.windows) for r in self._pending)
        return pooled >= self.max_windows or self._waiting >= self._active

    def _take(self) -> list[_Request]:
        """FIFO requests of the first request's kind, up to max_windows windows (the first always fits)."""
        key = self._pending[0].key
        batch, count, rest = [], 0, []
        for r in self._pending:
            if r.key == key and (not batch or count + len(r.windows) <= self.max_windows):
                batch.append(r)
                count += len(r.windows)
            else:
                rest.append(r)
        self._pending = rest
        self.stats.batches.append((count, len({r.file for r in batch})))
        return batch

    @staticmethod
    def _run(batch: list[_Request]) -> None:
        leader = batch[0].stylizer
        try:
            windows = np.concatenate([r.windows for r in batch])
            shape = leader.latent_shape(windows.shape[-1])
            noise = torch.cat([r.stylizer.start_noise(r.starts, shape) for r in batch])
            condition = torch.cat([r.stylizer.condition.expand(len(r.windows), -1, -1) for r in batch])
            out = leader.stylize(windows, noise, condition)
        except BaseException as exc:  # every file of the batch gets the error; the batch runner reports each
            for r in batch:
                r.error = exc
            return
        offset = 0
        for r in batch:
            r.result = out[offset: offset + len(r.windows)]
            offset += len(r.windows)

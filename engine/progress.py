"""Progress and cancellation across the engine boundary: a plain callback and a token, never Qt."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from engine.errors import Cancelled


class CancelToken:
    """Set from any thread (Ctrl-C handler, GUI button); long loops poll it between blocks."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


@dataclass(frozen=True)
class ProgressEvent:
    """kind: 'start' | 'file-start' | 'file-progress' | 'file-done' | 'file-skipped' |
    'file-failed' | 'file-warning' (e.g. the render clipped) | 'done' | 'stage' (analysis stages)."""

    kind: str
    fraction: float = 0.0  # overall progress 0..1
    file_fraction: float = 0.0  # progress within the current file 0..1
    index: int = -1  # index of the current file in the plan
    total: int = 0
    path: str = ""
    message: str = ""
    worker: str = ""  # render farm: the worker that rendered or failed the file ('' = this machine)


ProgressCallback = Callable[[ProgressEvent], None]


def report(callback: ProgressCallback | None, event: ProgressEvent) -> None:
    if callback is not None:
        callback(event)

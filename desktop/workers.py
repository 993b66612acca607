"""The one place where work leaves the UI thread.

Engine calls (batch renders, reference analysis, previews) take seconds to hours, so they run
in a QThreadPool. The engine knows nothing about Qt: it reports through a plain callback with
`engine.ProgressEvent`s and polls an `engine.CancelToken`. A `Task` turns those into Qt signals,
which Qt delivers queued to the UI thread, so widgets are only ever touched from there.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, QTimer, pyqtSignal

import engine

#: Tasks between start and their `ended` signal being handled: a Task dropped by its owner
#: early must not take its signal connections (and so its queued results) with it.
_LIVE: set["Task"] = set()

#: The work itself: gets a progress callback and a cancel token, returns the result.
Job = Callable[[Callable[[engine.ProgressEvent], None], engine.CancelToken], Any]


class TaskSignals(QObject):
    """Signals live on a QObject owned by the UI thread; emitting from the pool queues them."""

    progress = pyqtSignal(object)  # engine.ProgressEvent
    finished = pyqtSignal(object)  # the job's return value
    failed = pyqtSignal(str)  # one line for the user
    cancelled = pyqtSignal()
    ended = pyqtSignal()  # after any of finished / failed / cancelled


class _Runnable(QRunnable):
    def __init__(self, task: "Task") -> None:
        super().__init__()
        self.task = task
        self.setAutoDelete(True)

    def run(self) -> None:
        self.task._run()


class Task:
    """One job on the pool: `.signals` to listen, `.cancel()` to stop, `.wait()` to join."""

    def __init__(self, job: Job, name: str = "") -> None:
        self.job = job
        self.name = name
        self.token = engine.CancelToken()
        self.signals = TaskSignals()
        self._done = threading.Event()
        self._started = False

    # ------------------------------------------------------------ control (UI thread)
    def start(self, pool: QThreadPool | None = None) -> "Task":
        self._started = True
        _LIVE.add(self)
        # released on the next loop turn, after every slot connected to `ended` has run
        self.signals.ended.connect(lambda: QTimer.singleShot(0, lambda: _LIVE.discard(self)))
        (pool or QThreadPool.globalInstance()).start(_Runnable(self))
        return self

    def cancel(self) -> None:
        self.token.cancel()

    @property
    def running(self) -> bool:
        return self._started and not self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the job has returned (the engine removes partial outputs before that)."""
        return self._done.wait(timeout_s) if self._started else True

    # ------------------------------------------------------------ pool thread
    def _run(self) -> None:
        s = self.signals
        outcome: tuple = ()
        try:
            result = self.job(s.progress.emit, self.token)
        except engine.Cancelled:
            outcome = (s.cancelled,)
        except engine.RoomtoneError as exc:
            outcome = (s.failed, str(exc))
        except Exception as exc:  # a bug must reach the log, not kill the pool thread silently
            traceback.print_exc()
            outcome = (s.failed, f"{type(exc).__name__}: {exc}")
        else:
            outcome = (s.cancelled,) if self.token.cancelled and result is None else (s.finished, result)
        finally:
            # done before the outcome is posted: whoever handles it sees the task as no longer running
            self._done.set()
            if outcome:
                outcome[0].emit(*outcome[1:])
            s.ended.emit()


def run_task(job: Job, name: str = "", pool: QThreadPool | None = None) -> Task:
    """Start `job` off the UI thread and return its Task; keep a reference while it runs."""
    return Task(job, name).start(pool)

"""What runs on a farm worker: one file's render, the same call a local batch makes.

Nothing here touches the manifest or decides whether a file is rendered: the driver did that
(BatchRunner._start_job) before sending the file. A worker renders through restyle_file, which
writes every output under a hidden temporary name in the (shared) output folder and renames it
only when complete, and answers with an Outcome. Failures of the file itself come back as data
(the same reasons a local batch gives); only a dying worker is an exception, which Ray retries.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass

from engine.batch import FILE_ERRORS, Job, failure_reason
from engine.errors import Cancelled
from engine.progress import CancelToken
from engine.restyle import SceneSource, SpeechLevel, restyle_file
from engine.settings import Settings

MAX_CACHED_LEVELS = 4  # speech-level responses kept per worker process (one per batch it serves)
_LEVELS: dict[tuple[str, str], SpeechLevel] = {}
_LEVELS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Outcome:
    """A worker's answer for one file: status 'done' | 'failed' | 'cancelled'."""

    status: str
    worker: str
    reason: str = ""
    warning: str = ""
    render_s: float = 0.0  # time in restyle_file; the rest of a file's time in flight is the farm's overhead


class RayCancel(CancelToken):
    """The cancel token a worker's render polls: set when the driver calls ray.cancel on this task
    (the flag Ray keeps for actor tasks; plain tasks also get a KeyboardInterrupt)."""

    @property
    def cancelled(self) -> bool:
        if not self._event.is_set():
            try:
                import ray

                if ray.get_runtime_context().is_canceled():
                    self._event.set()
            except Exception:  # noqa: BLE001 - outside a task (tests): only cancel() sets it
                pass
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled("cancelled by the user")


def worker_name() -> str:
    """'host:pid', plus ' gpu N' on a GPU: what the driver's progress and the manifest show."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    try:
        import ray

        gpus = ray.get_gpu_ids()
        if gpus:
            name += " gpu " + ",".join(str(g) for g in gpus)
    except Exception:  # noqa: BLE001 - not in a Ray worker
        pass
    return name


def render(job: Job, preset: SceneSource, settings: Settings, level: SpeechLevel, batcher=None) -> Outcome:
    """Render one planned job; its outputs appear atomically or not at all."""
    worker, start = worker_name(), time.perf_counter()
    try:
        report = restyle_file(job.source, job.outputs, preset, settings, None, RayCancel(), batcher, level)
    except (Cancelled, KeyboardInterrupt):  # restyle_file has removed its temporaries
        return Outcome("cancelled", worker)
    except FILE_ERRORS as exc:
        return Outcome("failed", worker, reason=failure_reason(exc), render_s=time.perf_counter() - start)
    return Outcome("done", worker, warning=report.clip_warning(job.outputs) or "",
                   render_s=time.perf_counter() - start)


def speech_level(batch_key: str, preset: SceneSource, settings: Settings) -> SpeechLevel:
    """One SpeechLevel per batch per worker process, so its responses are read once, not per file."""
    key = (batch_key, json.dumps(settings.to_dict(), sort_keys=True))
    with _LEVELS_LOCK:
        if key not in _LEVELS:
            while len(_LEVELS) >= MAX_CACHED_LEVELS:
                _LEVELS.pop(next(iter(_LEVELS)))
            _LEVELS[key] = SpeechLevel(preset, settings)
        return _LEVELS[key]


def render_file_task(job: Job, preset: SceneSource, settings: Settings, batch_key: str) -> Outcome:
    """The Ray task of the match engine (CPU): one file per task."""
    return render(job, preset, settings, speech_level(batch_key, preset, settings))


class RenderActor:
    """The diffusion engine's worker: one per GPU (or CPU slot), alive for the whole batch, so the
    model loads once per actor (engine.runtime.select.MODELS caches it per process). With
    `batch_windows` > 0 the files it holds at once render side by side and pool their windows, as a
    local throughput run does."""

    def __init__(self, preset_ref: list, settings: Settings, batch_windows: int, files_at_once: int) -> None:
        """`preset_ref`: [ObjectRef of the preset], fetched here, so a restart fetches it anew."""
        import ray

        self.preset = preset = ray.get(preset_ref[0])
        self.settings = settings
        self.level = SpeechLevel(preset, settings)
        self.batcher = None
        if batch_windows > 0 and settings.engine == "diffusion":
            from engine.stylize.throughput import WindowBatcher

            self.batcher = WindowBatcher(batch_windows, max(1, -(-batch_windows // files_at_once)))

    def name(self) -> str:
        return worker_name()

    def render(self, job: Job) -> Outcome:
        if self.batcher is None:
            return render(job, self.preset, self.settings, self.level)
        with self.batcher.participant():
            return render(job, self.preset, self.settings, self.level, self.batcher)

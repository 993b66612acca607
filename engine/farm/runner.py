"""The driver of a farm batch: BatchRunner's planning, manifest and lock, with files sent to Ray.

Only `_render_jobs` differs from a local batch. Each file is checked and marked 'running' in the
manifest here (BatchRunner._start_job) just before it is sent, and recorded here when its answer
comes back (_finish_job / _failed), so the manifest has one writer and a killed driver's re-run
resumes from it like a killed local run. In-flight work is bounded by the workers there are, so a
kill or a Ctrl-C costs at most the files being rendered.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.batch import BatchRunner, FileResult, Job, _remove_stale_partials, _strs, failure_reason, files_in_flight
from engine.errors import printable
from engine.farm.cluster import LOCAL, connected
from engine.farm.worker import Outcome, RenderActor, render_file_task
from engine.restyle import SceneSource
from engine.settings import Settings

# Faults, said explicitly rather than left to Ray's at-most-once defaults: a file whose worker dies
# is rendered once more (on a new worker process); a second death is that file's `error:` line.
TASK_RETRIES = 1  # match engine tasks: Ray's max_retries (system failures only; file errors are data)
ACTOR_RESTARTS = 2  # diffusion actors: Ray's max_restarts (the model reloads in the new process)
ACTOR_TASK_RETRIES = 1  # a file on an actor that died is retried on its restarted process
CANCEL_GRACE_S = 30.0  # after Ctrl-C, how long workers get to stop at a block boundary and clean up
CPUS_PER_CPU_ACTOR = 4  # a diffusion actor on a CPU-only cluster: torch's threads need a few cores
POLL_S = 0.2  # how often the driver looks at the cancel token while waiting for answers


@dataclass
class FarmStats:
    """Where a farm batch's time went, for the bench and for sizing a farm (bench/RESULTS.md)."""

    files: int = 0  # answered by a worker
    render_s: float = 0.0  # summed time inside restyle_file on the workers
    in_flight_s: float = 0.0  # summed time from sending a file to reading its answer

    @property
    def overhead_s_per_file(self) -> float:
        """Scheduling, transfer and answer latency per file: in flight minus rendering."""
        return (self.in_flight_s - self.render_s) / self.files if self.files else 0.0


class FarmRunner(BatchRunner):
    """A BatchRunner whose files render on a Ray cluster at `address` ('local' = start one here)."""

    def __init__(self, preset: SceneSource, settings: Settings, out_dir: str | Path, address: str = LOCAL,
                 workers: int = 0, **kwargs: Any) -> None:
        """``workers``: files rendering at once (match) or actors (diffusion); 0 = one per CPU of the
        cluster, or one actor per GPU (CPU actors where it has none)."""
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        super().__init__(preset, settings, out_dir, **kwargs)
        self.address = address
        self.workers = int(workers)
        self.stats = FarmStats()

    def _render_jobs(self, jobs: list[Job], manifest: dict) -> list[FileResult]:
        if not jobs:
            return []
        with connected(self.address, num_cpus=self.workers or None) as ray:
            pool = _make_pool(ray, self, len(jobs))
            try:
                return _Dispatch(ray, self, pool, jobs, manifest).run()
            finally:
                pool.close()


# ---------------------------------------------------------------- pools


class _TaskPool:
    """Match engine: one stateless CPU task per file (num_cpus=1), Ray retrying a dead worker's file."""

    def __init__(self, ray, runner: FarmRunner) -> None:
        self.ray = ray
        self.capacity = runner.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.remote = ray.remote(num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False)(render_file_task)
        self.preset = ray.put(runner.preset)
        self.settings = runner.settings
        self.key = uuid.uuid4().hex  # the batch, for the workers' speech-level cache

    def submit(self, job: Job) -> tuple[Any, Any]:
        return self.remote.remote(job, self.preset, self.settings, self.key), None

    def lost(self, slot: Any) -> None:
        pass

    @property
    def alive(self) -> bool:
        return True

    def force_stop(self, refs: list) -> None:
        for ref in refs:
            self.ray.cancel(ref, force=True)

    def close(self) -> None:
        pass


@dataclass
class _Actor:
    handle: Any
    load: int = 0
    deaths: int = 0


class _ActorPool:
    """Diffusion engine: long-lived actors, one per GPU (num_gpus=1) or CPU slot, each holding up to
    `files_at_once` files (all of them pooling windows when batch_windows > 0); a file goes to the
    least-loaded actor."""

    def __init__(self, ray, runner: FarmRunner, jobs: int) -> None:
        self.ray = ray
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        if gpus:
            count, options = runner.workers or gpus, {"num_gpus": 1, "num_cpus": 1}
        else:
            count = runner.workers or max(1, cpus // CPUS_PER_CPU_ACTOR)
            options = {"num_cpus": max(1, min(CPUS_PER_CPU_ACTOR, cpus // count))}
        count = min(count, jobs)
        per_actor = files_in_flight(runner.batch_windows, -(-jobs // count)) if runner.batch_windows > 0 else 1
        cls = ray.remote(max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_TASK_RETRIES,
                         max_concurrency=per_actor, **options)(RenderActor)
        # held for the batch, so a restarted actor can fetch it again; passed nested (not as a top-level
        # argument, which Ray would resolve) so the actor fetches it itself
        self.preset = ray.put(runner.preset)
        self.files_at_once = per_actor
        self.actors = [_Actor(cls.remote([self.preset], runner.settings, runner.batch_windows, per_actor))
                       for _ in range(count)]

    @property
    def capacity(self) -> int:
        return len(self.actors) * self.files_at_once

    @property
    def alive(self) -> bool:
        return bool(self.actors)

    def submit(self, job: Job) -> tuple[Any, Any]:
        actor = min(self.actors, key=lambda a: a.load)
        actor.load += 1
        return actor.handle.render.remote(job), actor

    def done(self, actor: _Actor) -> None:
        actor.load -= 1

    def lost(self, actor: _Actor) -> None:
        """A file's actor died past its retry; past its restarts it leaves the pool."""
        actor.deaths += 1
        if actor.deaths > ACTOR_RESTARTS and actor in self.actors:
            self.actors.remove(actor)

    def force_stop(self, refs: list) -> None:
        for actor in self.actors:  # actor tasks cannot be interrupted; their processes can
            self.ray.kill(actor.handle, no_restart=True)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor.handle, no_restart=True)
        self.actors = []


def _make_pool(ray, runner: FarmRunner, jobs: int):
    if runner.settings.engine == "match":
        return _TaskPool(ray, runner)
    return _ActorPool(ray, runner, jobs)


# ---------------------------------------------------------------- dispatch


@dataclass
class _InFlight:
    index: int
    job: Job
    slot: Any
    sent: float = field(default_factory=time.perf_counter)


@dataclass
class _Dispatch:
    """Keeps the pool full, records answers as they come, and on Ctrl-C cancels what runs."""

    ray: Any
    runner: FarmRunner
    pool: Any
    jobs: list[Job]
    manifest: dict
    results: dict[int, FileResult] = field(default_factory=dict)

    def run(self) -> list[FileResult]:
        runner, total = self.runner, len(self.jobs)
        queue = deque(enumerate(self.jobs))
        flying: dict[Any, _InFlight] = {}
        stop_at: float | None = None
        try:
            while queue or flying:
                if runner.cancel.cancelled and stop_at is None:
                    stop_at = time.monotonic() + CANCEL_GRACE_S
                    for ref in flying:
                        self.ray.cancel(ref)  # tasks: KeyboardInterrupt; actor tasks: the flag RayCancel polls
                if stop_at is not None:
                    while queue:
                        index, job = queue.popleft()
                        self.results[index] = FileResult(str(job.source), _strs(job.outputs), "cancelled")
                while queue and stop_at is None and len(flying) < self.pool.capacity:
                    self._send(queue, flying, total)
                if not self.pool.alive and queue:
                    self._no_workers(queue, total)
                if not flying:
                    continue
                ready, _ = self.ray.wait(list(flying), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    self._answer(flying.pop(ref), ref, total)
                if stop_at is not None and flying and time.monotonic() > stop_at:
                    self.pool.force_stop(list(flying))
                    for item in flying.values():
                        self._cancelled(item)
                    flying.clear()
        except BaseException:  # a second Ctrl-C or a lost manifest: leave no work behind on the cluster
            self.pool.force_stop(list(flying))
            raise
        return [self.results[i] for i in range(total)]

    def _send(self, queue: deque, flying: dict, total: int) -> None:
        index, job = queue.popleft()
        try:
            early = self.runner._start_job(index, total, job, self.manifest)
        except OSError as exc:
            early = self.runner._failed(self.manifest, job, index, total, failure_reason(exc))
        if early is not None:
            self.results[index] = early
            return
        ref, slot = self.pool.submit(job)
        flying[ref] = _InFlight(index, job, slot)

    def _answer(self, item: _InFlight, ref: Any, total: int) -> None:
        ray, runner = self.ray, self.runner
        if item.slot is not None:
            self.pool.done(item.slot)
        try:
            outcome: Outcome = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            self._cancelled(item)
            return
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.ObjectLostError) as exc:
            if item.slot is not None:
                self.pool.lost(item.slot)
            if runner.cancel.cancelled:
                self._cancelled(item)
                return
            reason = f"its worker died on both tries ({_first_line(exc)})"
            self.results[item.index] = runner._failed(self.manifest, item.job, item.index, total, reason)
            _remove_stale_partials(item.job)
            return
        except ray.exceptions.RayTaskError as exc:  # a bug on the worker, not a file's fault
            cause = getattr(exc, "cause", None) or exc
            reason = f"{type(cause).__name__}: {_first_line(cause)}"
            self.results[item.index] = runner._failed(self.manifest, item.job, item.index, total, reason)
            return
        _remove_stale_partials(item.job)  # what an earlier, dead attempt left
        stats = runner.stats
        stats.files += 1
        stats.render_s += outcome.render_s
        stats.in_flight_s += time.perf_counter() - item.sent
        if outcome.status == "done":
            result = runner._finish_job(item.index, total, item.job, self.manifest, outcome.warning, outcome.worker)
        elif outcome.status == "failed":
            result = runner._failed(self.manifest, item.job, item.index, total, outcome.reason, outcome.worker)
        else:
            result = runner._cancelled_job(self.manifest, item.job)
        self.results[item.index] = result

    def _cancelled(self, item: _InFlight) -> None:
        _remove_stale_partials(item.job)  # hidden already; a worker stopped by force may have left one
        self.results[item.index] = self.runner._cancelled_job(self.manifest, item.job)

    def _no_workers(self, queue: deque, total: int) -> None:
        reason = "no render worker is left on the cluster (every one died past its restarts); run again"
        while queue:
            index, job = queue.popleft()
            self.results[index] = self.runner._failed(self.manifest, job, index, total, reason)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return printable(text.splitlines()[0] if text else type(exc).__name__)

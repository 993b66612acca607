"""Runs the queue through `engine.BatchRunner` on a worker and mirrors its events into the model.

Kept out of the widgets so the queue panel only forwards "start"/"cancel" and shows the model;
what a file's status means is decided by the engine's events and its BatchReport, not here.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal

import engine
from engine.batch import summarise
from desktop.queue_model import CANCELLED, DONE, FAILED, QUEUED, RUNNING, SKIPPED, QueueModel
from desktop.workers import Task, run_task

_FINAL = {"done": DONE, "skipped": SKIPPED, "failed": FAILED, "cancelled": CANCELLED}


class BatchController(QObject):
    running_changed = pyqtSignal(bool)
    overall_progress = pyqtSignal(float)  # 0..1 over the rows of the current run
    log = pyqtSignal(str, str, str)  # level ('info'|'warning'|'error'), file, message
    finished = pyqtSignal(object)  # list[engine.BatchReport] (empty when the run itself failed)
    event = pyqtSignal(object)  # every engine.ProgressEvent, after the model has been updated

    def __init__(self, model: QueueModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.task: Task | None = None
        self._rows: list[int] = []

    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running

    def start(self, rows: list[int], preset, settings: engine.Settings, out_dir: Path, name_template: str,
              render_on: str | None = None) -> bool:
        """Queue `rows` for rendering; folders dropped on the queue are mirrored under out_dir.
        `render_on`: None = this machine, else a Ray cluster address (engine.FarmRunner)."""
        if self.running or not rows:
            return False
        self._rows = sorted(rows)
        groups: dict[Path, list[str]] = defaultdict(list)
        for r in self._rows:
            item = self.model.item(r)
            self.model.update(r, status=QUEUED, progress=0.0, error="", outputs={})
            groups[Path(out_dir) / item.rel_dir].append(str(item.path))
        self.overall_progress.emit(0.0)

        def job(progress, cancel: engine.CancelToken) -> list:
            reports = []
            for folder, paths in groups.items():
                if cancel.cancelled:
                    break
                common = dict(name_template=name_template, progress=progress, cancel=cancel)
                if render_on is None:
                    runner = engine.BatchRunner(preset, settings, folder, **common)
                else:
                    runner = engine.FarmRunner(preset, settings, folder, render_on, **common)
                reports.append(runner.run(runner.plan(paths)))
            return reports

        self.task = run_task(job, "batch")
        self.task.signals.progress.connect(self._on_event)
        self.task.signals.finished.connect(self._on_finished)
        self.task.signals.failed.connect(self._on_failed)
        self.task.signals.ended.connect(self._on_ended)
        self.running_changed.emit(True)
        where = f" on the Ray cluster at {render_on}" if render_on else ""
        self.log.emit("info", "", f"rendering {len(self._rows)} file(s) with preset {getattr(preset, 'name', '?')!r} "
                                  f"to {out_dir}{where}")
        return True

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self.task.wait(timeout_s) if self.task is not None else True

    # ------------------------------------------------------------ worker signals (UI thread)
    def _on_event(self, ev: engine.ProgressEvent) -> None:
        row = self.model.row_of(ev.path) if ev.path else -1
        if row >= 0:
            if ev.kind == "file-start":
                self.model.update(row, status=RUNNING, progress=0.0)
            elif ev.kind == "file-progress":
                self.model.update(row, status=RUNNING, progress=ev.file_fraction)
            elif ev.kind == "file-done":
                self.model.update(row, status=DONE, progress=1.0)
                if ev.worker:  # rendered on a farm: say where
                    self.log.emit("info", ev.path, f"rendered on {ev.worker}")
            elif ev.kind == "file-warning":
                self.log.emit("warning", ev.path, ev.message)
            elif ev.kind == "file-skipped":
                self.model.update(row, status=SKIPPED, progress=1.0)
                self.log.emit("info", ev.path, "already rendered with these settings; skipped")
            elif ev.kind == "file-failed":
                reason = ev.message.removeprefix(f"{ev.path}: ")
                self.model.update(row, status=FAILED, progress=0.0, error=reason)
                self.log.emit("error", ev.path, reason)
        elif ev.kind == "file-failed":
            self.log.emit("error", ev.path, ev.message)
        self.overall_progress.emit(self.model.overall_progress(self._rows))
        self.event.emit(ev)

    def _on_finished(self, reports: list) -> None:
        seen: set[int] = set()
        for report in reports:
            for result in report.results:
                row = self.model.row_of(result.source)
                if row < 0:
                    continue
                seen.add(row)
                status = _FINAL.get(result.status, result.status)
                progress = 1.0 if status in (DONE, SKIPPED) else self.model.item(row).progress
                self.model.update(row, status=status, outputs=result.outputs, error=result.error, progress=progress)
        for row in self._rows:  # groups never started because the run was cancelled
            if row not in seen and row < self.model.rowCount() and self.model.item(row).status in (QUEUED, RUNNING):
                self.model.update(row, status=CANCELLED)
        failed = sum(r.count("failed") for r in reports)
        summary = summarise(reports)
        if not summary.startswith("cancelled") and self.task is not None and self.task.token.cancelled:
            summary = f"cancelled: {summary}"  # cancelled between folders, before a runner saw it
        self.log.emit("error" if failed else "info", "", f"batch finished: {summary}")
        self.overall_progress.emit(self.model.overall_progress(self._rows))
        self.running_changed.emit(False)  # before `finished`, so its listeners see an idle queue
        self.finished.emit(reports)

    def _on_ended(self) -> None:
        if not self.running:  # a listener of `finished` may already have started the next run
            self.running_changed.emit(False)

    def _on_failed(self, message: str) -> None:
        for row in self._rows:
            if row < self.model.rowCount() and self.model.item(row).status in (QUEUED, RUNNING):
                self.model.update(row, status=FAILED, error=message)
        self.log.emit("error", "", f"batch stopped: {message}")
        self.running_changed.emit(False)
        self.finished.emit([])

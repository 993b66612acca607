"""Library operations behind the presets panel: quick ones inline, reference analysis on a worker.

The panel forwards intent here; every `presets.Library` refusal (name taken, factory preset
read-only, corrupt import) comes back as one log line instead of an exception in a slot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PyQt6.QtCore import QObject, pyqtSignal

import engine
import presets
from desktop.workers import Task, run_task


class PresetActions(QObject):
    changed = pyqtSignal(str)  # the library changed; id of the preset to select ('' for none)
    log = pyqtSignal(str, str, str)  # level, file, message
    analysing = pyqtSignal(bool)
    analysis_progress = pyqtSignal(float, str)  # fraction, stage message
    created = pyqtSignal(object)  # the ScenePreset stored from a reference

    def __init__(self, library: presets.Library, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.task: Task | None = None

    # ------------------------------------------------------------ reading
    def list(self) -> list:
        return self.library.list()

    def get(self, key: str):
        try:
            return self.library.get(key)
        except engine.PresetError:
            return None

    def name_taken(self, name: str) -> bool:
        wanted = name.strip().casefold()
        return any(p.name.casefold() == wanted for p in self.library.list())

    def report_problems(self) -> None:
        for problem in self.library.problems():
            self.log.emit("warning", str(self.library.user_dir), f"preset skipped: {problem}")

    # ------------------------------------------------------------ analysis (worker)
    @property
    def busy(self) -> bool:
        return self.task is not None and self.task.running

    def create_from_reference(self, path: str | Path, name: str, frame_s: float | None = None) -> Task | None:
        """Analyse `path` into a new preset named `name` and store it, off the UI thread."""
        path = Path(path)
        if self.busy:
            self.log.emit("error", str(path), "another reference is being analysed; wait or cancel it")
            return None
        if self.name_taken(name):
            self.log.emit("error", str(path), f"a preset named {name!r} already exists; choose another name")
            return None
        library = self.library

        def job(progress: Callable[[Any], None], cancel: engine.CancelToken):
            preset = presets.preset_from_reference(name, path, frame_s=frame_s, progress=progress, cancel=cancel)
            cancel.raise_if_cancelled()
            return library.add(preset)

        self.task = task = run_task(job, "analyse")
        task.signals.progress.connect(lambda ev: self.analysis_progress.emit(ev.fraction, ev.message))
        task.signals.finished.connect(self._on_created)
        task.signals.failed.connect(lambda msg: self.log.emit("error", str(path), f"cannot make a preset: {msg}"))
        task.signals.cancelled.connect(lambda: self.log.emit("info", str(path), "analysis cancelled"))
        task.signals.ended.connect(lambda: self.analysing.emit(False))
        self.analysing.emit(True)
        self.log.emit("info", str(path), f"analysing reference for preset {name!r}…")
        return task

    def cancel_analysis(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _on_created(self, preset) -> None:
        self.log.emit("info", "", f"preset {preset.name!r} created")
        self.created.emit(preset)
        self.changed.emit(preset.id)

    # ------------------------------------------------------------ quick operations
    def _do(self, what: str, fn: Callable[[], Any], file: str = "") -> Any:
        try:
            result = fn()
        except (engine.RoomtoneError, OSError) as exc:
            self.log.emit("error", file, f"{what} failed: {exc}")
            return None
        return result

    def rename(self, key: str, new_name: str):
        p = self._do("rename", lambda: self.library.rename(key, new_name))
        if p is not None:
            self.changed.emit(p.id)
        return p

    def duplicate(self, key: str):
        p = self._do("duplicate", lambda: self.library.duplicate(key))
        if p is not None:
            self.changed.emit(p.id)
        return p

    def delete(self, key: str):
        p = self._do("delete", lambda: self.library.delete(key))
        if p is not None:
            self.log.emit("info", "", f"preset {p.name!r} deleted")
            self.changed.emit("")
        return p

    def export(self, key: str, path: str | Path):
        out = self._do("export", lambda: self.library.export(key, path), str(path))
        if out is not None:
            self.log.emit("info", str(out), "preset exported")
        return out

    def import_(self, path: str | Path):
        p = self._do("import", lambda: self.library.import_(path), str(path))
        if p is not None:
            self.log.emit("info", str(path), f"preset {p.name!r} imported")
            self.changed.emit(p.id)
        return p

    def blend(self, key_a: str, key_b: str, weight_b: float, name: str):
        p = self._do("blend", lambda: self.library.blend(key_a, key_b, weight_b, name))
        if p is not None:
            self.changed.emit(p.id)
        return p

"""Preview: a 10 s excerpt rendered by `engine.preview` on a worker, then played A/B.

Hearing the scene on the actual dialogue before committing a long batch is the point; the
original and the restyled excerpt are the same frames, so switching A/B keeps the position.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal

import engine
from desktop.player import Player
from desktop.workers import Task, run_task

PREVIEW_SECONDS = 10.0


class PreviewController(QObject):
    busy = pyqtSignal(bool)
    ready = pyqtSignal(str, str, str)  # original wav, restyled wav, description
    log = pyqtSignal(str, str, str)  # level, file, message

    def __init__(self, player: Player, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.player = player
        self.task: Task | None = None
        self._tail_s = 0.0

    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running

    def request(self, source: Path | None, preset, settings: engine.Settings) -> Task | None:
        if source is None:
            self.log.emit("error", "", "preview needs a file: add one to the queue and select it")
            return None
        if preset is None:
            self.log.emit("error", str(source), "preview needs a scene preset: select one")
            return None
        if self.running:
            return None
        source = Path(source)
        self._tail_s = settings.tail_s

        def job(_progress, _cancel):
            return engine.preview(source, preset, settings, duration_s=PREVIEW_SECONDS)

        self.task = task = run_task(job, "preview")
        task.signals.finished.connect(lambda result: self._on_done(source, preset, result))
        task.signals.failed.connect(lambda msg: self.log.emit("error", str(source), f"preview failed: {msg}"))
        task.signals.ended.connect(lambda: self.busy.emit(False))
        self.busy.emit(True)
        return task

    def _on_done(self, source: Path, preset, result) -> None:
        dry, stems, rate = result
        a = self.player.write_temp(dry, rate, "original")
        b = self.player.write_temp(stems.mix, rate, "restyled")
        self.player.set_ab(a, b)
        tail = round(self._tail_s * rate)
        text = f"{source.name} in “{preset.name}” — {(len(dry) - tail) / rate:.1f} s excerpt"
        if tail:
            text += f" + {tail / rate:.1f} s tail"
        if self.player.available:
            self.player.play("B")
        else:
            text += f". {self.player.problem}"
        self.ready.emit(str(a), str(b), text)

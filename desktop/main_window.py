"""The main window: composes the panels, wires intent to the controllers, owns shutdown.

Left: scene presets and the selected scene's profile. Centre: the queue over the log. Right:
render settings and preview. The window is the only place that knows all of them, so it is
where "start" gathers preset + settings + output options, and where closing during a render
is confirmed, cancelled and waited for (outputs are atomic, so nothing partial is left).
"""

from __future__ import annotations

from typing import Callable

from PyQt6.QtCore import QByteArray, QSettings, Qt
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import QLabel, QMainWindow, QMessageBox, QSplitter, QWidget

import presets
from desktop.batch_controller import BatchController
from desktop.log_panel import LogPanel
from desktop.player import Player
from desktop.preset_actions import PresetActions
from desktop.presets_panel import PresetsPanel
from desktop.preview import PreviewController
from desktop.queue_model import FAILED, QueueModel
from desktop.queue_panel import QueuePanel
from desktop.settings_panel import SettingsPanel
from desktop.state import open_settings

#: How long closing waits for a cancelled worker before giving up (it polls between blocks).
CLOSE_WAIT_S = 60.0


class MainWindow(QMainWindow):
    def __init__(self, library: presets.Library, qsettings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Roomtone")
        self.qsettings = qsettings or open_settings()
        #: Asks the user yes/no; replaceable so tests can answer without a modal dialog.
        self.confirm: Callable[[str, str], bool] = self._ask

        self.player = Player(self)
        self.preset_actions = PresetActions(library, self)
        self.queue_model = QueueModel(self)
        self.batch = BatchController(self.queue_model, self)
        self.preview = PreviewController(self.player, self)

        self.presets_panel = PresetsPanel(self.preset_actions, self)
        self.queue_panel = QueuePanel(self.queue_model, self)
        self.settings_panel = SettingsPanel(self)
        self.log_panel = LogPanel(self)

        centre = QSplitter(Qt.Orientation.Vertical, self)
        centre.addWidget(self.queue_panel)
        centre.addWidget(self.log_panel)
        centre.setStretchFactor(0, 3)
        centre.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.presets_panel)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(self.settings_panel)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([330, 760, 290])
        self.centre_splitter = centre
        self.splitter.setContentsMargins(8, 8, 8, 4)
        self.setCentralWidget(self.splitter)
        self.playback_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.playback_label)

        # intent -> controllers
        self.queue_panel.start_requested.connect(self.start_batch)
        self.queue_panel.cancel_requested.connect(self.batch.cancel)
        self.queue_panel.retry_requested.connect(self.retry_failed)
        self.settings_panel.preview_requested.connect(self.request_preview)
        self.settings_panel.ab_selected.connect(self.player.play)
        self.settings_panel.stop_requested.connect(self.player.stop)
        self.presets_panel.play_reference.connect(self.play_reference)
        # state -> widgets
        self.batch.running_changed.connect(self.queue_panel.set_running)
        self.batch.overall_progress.connect(self.queue_panel.set_overall_progress)
        self.preview.busy.connect(lambda b: self.settings_panel.set_preview_busy(b, "Rendering preview…" if b else ""))
        self.preview.ready.connect(lambda _a, _b, text: self.settings_panel.set_preview_ready(text))
        for source in (self.queue_panel.log, self.batch.log, self.preset_actions.log, self.preview.log):
            source.connect(self.log)
        self.player.message.connect(lambda m: self.log("warning", "", m))
        self.player.state_changed.connect(lambda s: self.playback_label.setText("▶ playing" if s == "playing" else ""))

        self.restore_state()
        self.preset_actions.report_problems()
        if not self.player.available:
            self.log("warning", "", f"Playback: {self.player.problem}")
            self.playback_label.setText("no audio output")
        self.statusBar().showMessage("Ready", 5000)

    # ------------------------------------------------------------ log / status
    def log(self, level: str, file: str, message: str) -> None:
        self.log_panel.add(level, file, message)
        prefix = f"{file}: " if file else ""
        self.statusBar().showMessage(prefix + message, 8000)

    # ------------------------------------------------------------ actions
    def start_batch(self, rows: list[int] | None = None) -> bool:
        if self.batch.running:
            return False
        rows = list(range(self.queue_model.rowCount())) if not rows else rows
        preset = self.presets_panel.current_preset()
        if preset is None:
            self.log("error", "", "select or create a scene preset before starting")
            return False
        try:
            settings = self.settings_panel.settings(stems=self.queue_panel.stems())
            render_on = self.settings_panel.render_on()
        except ValueError as exc:
            self.log("error", "", f"settings are not valid: {exc}")
            return False
        return self.batch.start(rows, preset, settings, self.queue_panel.out_dir(), self.queue_panel.name_template(),
                                render_on=render_on)

    def retry_failed(self) -> bool:
        rows = self.queue_model.rows_with_status(FAILED)
        return self.start_batch(rows) if rows else False

    def request_preview(self) -> None:
        try:
            settings = self.settings_panel.settings()
        except ValueError as exc:
            self.log("error", "", f"settings are not valid: {exc}")
            return
        self.preview.request(self.queue_panel.current_path(), self.presets_panel.current_preset(), settings)

    def play_reference(self, preset) -> None:
        if self.player.available:
            self.player.play_array(preset.reference, preset.reference_rate_hz, "reference")
            self.statusBar().showMessage(f"Playing the reference of {preset.name!r}", 5000)
        else:
            self.log("warning", "", f"cannot play the reference: {self.player.problem}")

    # ------------------------------------------------------------ load demo / persistence
    def restore_state(self) -> None:
        qs = self.qsettings
        geometry = qs.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1380, 820)
        for key, splitter in (("window/splitter", self.splitter), ("window/centre", self.centre_splitter)):
            state = qs.value(key)
            if isinstance(state, QByteArray):
                splitter.restoreState(state)
        self.queue_panel.restore_state(qs)
        self.settings_panel.restore_state(qs)
        preset_id = qs.value("presets/current", "")
        if preset_id:
            self.presets_panel.select(str(preset_id))

    def save_state(self) -> None:
        qs = self.qsettings
        qs.setValue("window/geometry", self.saveGeometry())
        qs.setValue("window/splitter", self.splitter.saveState())
        qs.setValue("window/centre", self.centre_splitter.saveState())
        self.queue_panel.save_state(qs)
        self.settings_panel.save_state(qs)
        current = self.presets_panel.current_preset()
        qs.setValue("presets/current", current.id if current is not None else "")
        qs.sync()

    # ------------------------------------------------------------ shutdown
    def busy_tasks(self) -> list:
        return [t for t in (self.batch.task, self.preset_actions.task, self.preview.task) if t is not None and t.running]

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:
        tasks = self.busy_tasks()
        if tasks:
            what = "A render is running" if self.batch.running else "Work is running"
            if not self.confirm("Quit Roomtone?", f"{what}. Cancel it and quit? Files not finished are not written."):
                event.ignore()
                return
            self.statusBar().showMessage("Cancelling…")
            for t in tasks:
                t.cancel()
            for t in tasks:
                if not t.wait(CLOSE_WAIT_S):
                    self.log("error", "", "a worker did not stop in time")
        self.save_state()
        self.player.close()
        event.accept()

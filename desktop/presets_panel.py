"""The preset library: pick a scene, see its profile, make new ones from a reference clip.

Shows the library and forwards intent to PresetActions; the only decisions made here are the
ones a user makes in a dialog (names, confirmations, file locations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PyQt6.QtCore import QByteArray, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PyQt6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import engine
from engine.describe import preset_summary
from desktop.dialogs import VIDEO_EXTENSIONS, BlendDialog, NewPresetDialog
from desktop.preset_actions import PresetActions
from desktop.scene_view import SceneProfileView
from desktop.workers import run_task

ICON_PX = 44
ID_ROLE = Qt.ItemDataRole.UserRole


def placeholder_icon(px: int = ICON_PX) -> QIcon:
    """A neutral 'room' glyph for presets made from audio only (no video frame)."""
    pm = QPixmap(px, px)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor("#dbe6f0"))
    p.setPen(QPen(QColor("#8aa6bf"), 1))
    p.drawRoundedRect(1, 1, px - 2, px - 2, 6, 6)
    wave = QPainterPath()
    wave.moveTo(6, px / 2)
    for i in range(1, 9):
        x = 6 + i * (px - 12) / 8
        amp = (px / 3) * (0.85 ** i) * (1 if i % 2 else -1)
        wave.lineTo(x, px / 2 + amp)
    p.setPen(QPen(QColor("#2f7ebd"), 2))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawPath(wave)
    p.end()
    return QIcon(pm)


def preset_icon(png: bytes | None) -> QIcon:
    if png:
        pm = QPixmap()
        if pm.loadFromData(QByteArray(png)):
            return QIcon(pm.scaled(ICON_PX, ICON_PX, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                   Qt.TransformationMode.SmoothTransformation))
    return placeholder_icon()


def _confirm(parent: QWidget, title: str, text: str) -> bool:
    answer = QMessageBox.question(parent, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class PresetsPanel(QWidget):
    current_changed = pyqtSignal(object)  # ScenePreset or None
    play_reference = pyqtSignal(object)  # ScenePreset

    def __init__(self, actions: PresetActions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.actions = actions
        self.setAcceptDrops(True)
        #: Asks the user yes/no; replaceable so tests can answer without a modal dialog.
        self.confirm: Callable[[str, str], bool] = lambda title, text: _confirm(self, title, text)
        self._presets: dict[str, object] = {}

        self.list = QListWidget(self)
        self.list.setIconSize(QSize(ICON_PX, ICON_PX))
        self.list.setSpacing(2)
        self.list.currentItemChanged.connect(self._on_current)
        self.drop_hint = QLabel("Drop a reference clip (audio or video) here to make a preset", self)
        self.drop_hint.setWordWrap(True)
        self.drop_hint.setStyleSheet("color: palette(mid);")

        self.new_button = QPushButton("New…", self)
        self.rename_button = QPushButton("Rename", self)
        self.duplicate_button = QPushButton("Duplicate", self)
        self.delete_button = QPushButton("Delete", self)
        self.import_button = QPushButton("Import…", self)
        self.export_button = QPushButton("Export…", self)
        self.blend_button = QPushButton("Blend…", self)
        self.new_button.clicked.connect(self._browse_reference)
        self.rename_button.clicked.connect(self._rename)
        self.duplicate_button.clicked.connect(self._duplicate)
        self.delete_button.clicked.connect(self._delete)
        self.import_button.clicked.connect(self._import)
        self.export_button.clicked.connect(self._export)
        self.blend_button.clicked.connect(self._blend)
        buttons = QGridLayout()
        for i, b in enumerate((self.new_button, self.rename_button, self.duplicate_button, self.delete_button,
                               self.import_button, self.export_button, self.blend_button)):
            buttons.addWidget(b, i // 4, i % 4)

        self.analysis_bar = QProgressBar(self)
        self.analysis_bar.setRange(0, 1000)
        self.analysis_cancel = QPushButton("Cancel", self)
        self.analysis_cancel.clicked.connect(self.actions.cancel_analysis)
        self.analysis_row = QWidget(self)
        row = QHBoxLayout(self.analysis_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.analysis_bar, 1)
        row.addWidget(self.analysis_cancel)
        self.analysis_row.hide()

        self.profile_view = SceneProfileView(self)
        self.play_button = QPushButton("▶ Play reference", self)
        self.play_button.clicked.connect(self._play)
        self.picture_button = QPushButton("Restyle still by its sound", self)
        self.picture_button.setToolTip("the preset's still as it would look with its own ambience (engine.visual)")
        self.picture_button.clicked.connect(self.restyle_still)
        self.picture_label = QLabel(self)
        self.picture_label.hide()
        self.picture_task = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Scene presets</b>", self))
        layout.addWidget(self.list, 2)
        layout.addWidget(self.drop_hint)
        layout.addLayout(buttons)
        layout.addWidget(self.analysis_row)
        layout.addWidget(self.profile_view, 3)
        layout.addWidget(self.play_button)
        layout.addWidget(self.picture_button)
        layout.addWidget(self.picture_label)

        actions.changed.connect(self.refresh)
        actions.analysing.connect(self._on_analysing)
        actions.analysis_progress.connect(self._on_analysis_progress)
        self.refresh()

    # ------------------------------------------------------------ list
    def refresh(self, select_id: str = "") -> None:
        keep = select_id or (self.current_preset().id if self.current_preset() is not None else "")
        self.list.blockSignals(True)
        self.list.clear()
        self._presets = {}
        for p in self.actions.list():
            self._presets[p.id] = p
            item = QListWidgetItem(preset_icon(p.thumbnail_png),
                                   f"{p.name}{'  (factory)' if p.factory else ''}\n{preset_summary(p)}")
            item.setData(ID_ROLE, p.id)
            self.list.addItem(item)
        self.list.blockSignals(False)
        row = next((i for i in range(self.list.count()) if self.list.item(i).data(ID_ROLE) == keep), 0)
        if self.list.count():
            self.list.setCurrentRow(row)
        self._on_current()

    def preset_ids(self) -> list[str]:
        return [self.list.item(i).data(ID_ROLE) for i in range(self.list.count())]

    def preset_names(self) -> list[str]:
        return [self._presets[i].name for i in self.preset_ids()]

    def current_preset(self):
        item = self.list.currentItem() if hasattr(self, "list") else None
        return self._presets.get(item.data(ID_ROLE)) if item is not None else None

    def select(self, preset_id: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(ID_ROLE) == preset_id:
                self.list.setCurrentRow(i)

    def _on_current(self, *_args) -> None:
        preset = self.current_preset()
        self.profile_view.show_preset(preset)
        writable = preset is not None and not preset.factory
        for b in (self.rename_button, self.delete_button):
            b.setEnabled(writable)
        for b in (self.duplicate_button, self.export_button, self.play_button):
            b.setEnabled(preset is not None)
        self.blend_button.setEnabled(self.list.count() >= 2)
        self.current_changed.emit(preset)

    # ------------------------------------------------------------ new from reference
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        files = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        event.acceptProposedAction()
        if files:
            self.request_reference(files[0])

    def accepts_reference(self, path: Path) -> bool:
        suffix = path.suffix.lower()
        return suffix in engine.AUDIO_EXTENSIONS or suffix in VIDEO_EXTENSIONS

    def request_reference(self, path: str | Path) -> None:
        """What a drop does: check the file type, ask name (and frame for video), then analyse."""
        path = Path(path)
        if not path.is_file() or not self.accepts_reference(path):
            self.actions.log.emit("error", str(path), "refused as a reference: not an audio or video file")
            return
        dialog = NewPresetDialog(path, self)
        if dialog.exec() and dialog.name():
            self.actions.create_from_reference(path, dialog.name(), dialog.frame_s())

    def _browse_reference(self) -> None:
        exts = " ".join(f"*{e}" for e in sorted(engine.AUDIO_EXTENSIONS | VIDEO_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Reference clip", "", f"Audio or video ({exts})")
        if path:
            self.request_reference(path)

    def _on_analysing(self, busy: bool) -> None:
        self.analysis_row.setVisible(busy)
        self.analysis_bar.setValue(0)
        self.new_button.setEnabled(not busy)

    def _on_analysis_progress(self, fraction: float, message: str) -> None:
        self.analysis_bar.setValue(int(fraction * 1000))
        self.analysis_bar.setFormat(f"{message or 'analysing'} – %p %")

    # ------------------------------------------------------------ other operations
    def _rename(self) -> None:
        p = self.current_preset()
        if p is None:
            return
        name, ok = QInputDialog.getText(self, "Rename preset", "New name", text=p.name)
        if ok and name.strip() and name.strip() != p.name:
            self.actions.rename(p.id, name.strip())

    def _duplicate(self) -> None:
        p = self.current_preset()
        if p is not None:
            self.actions.duplicate(p.id)

    def _delete(self) -> None:
        p = self.current_preset()
        if p is not None and self.confirm("Delete preset", f"Delete the preset “{p.name}”? This cannot be undone."):
            self.actions.delete(p.id)

    def _import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import preset", "", "Roomtone preset (*.rtpreset)")
        if path:
            self.actions.import_(path)

    def _export(self) -> None:
        p = self.current_preset()
        if p is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export preset", f"{p.name}.rtpreset", "Roomtone preset (*.rtpreset)")
        if path:
            self.actions.export(p.id, path)

    def _blend(self) -> None:
        ids = self.preset_ids()
        if len(ids) < 2:
            return
        current = self.current_preset()
        dialog = BlendDialog([(i, self._presets[i].name) for i in ids], current.id if current else "", self)
        if dialog.exec():
            a, b, weight, name = dialog.values()
            if a == b:
                self.actions.log.emit("error", "", "blend needs two different presets")
            elif name:
                self.actions.blend(a, b, weight, name)

    def restyle_still(self) -> None:
        """Restyle the current preset's still by its ambience off the UI thread; show it below."""
        import engine.visual

        preset = self.current_preset()
        if preset is None or not preset.thumbnail_png:
            self.actions.log.emit("error", "", "this preset has no still to restyle (make it from a video)")
            return
        png, sound, rate = preset.thumbnail_png, preset.ambience, preset.ambience_rate_hz
        self.picture_task = run_task(lambda progress, cancel: engine.visual.restyle_still(png, sound, rate),
                                     "restyle still")
        self.picture_task.signals.finished.connect(self._show_still)
        self.picture_task.signals.failed.connect(lambda msg: self.actions.log.emit("error", "", msg))

    def _show_still(self, png: bytes) -> None:
        pix = QPixmap()
        pix.loadFromData(png, "PNG")
        self.picture_label.setPixmap(pix.scaledToWidth(min(pix.width(), 256)))
        self.picture_label.show()

    def _play(self) -> None:
        p = self.current_preset()
        if p is not None:
            self.play_reference.emit(p)

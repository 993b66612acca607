"""Small modal dialogs the presets panel asks before acting (name, video frame, blend weight)."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QWidget,
)

#: Film formats the reference analysis reads through PyAV (its first audio stream + a frame).
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm"})
FRAME_SLIDER_MAX_S = 600.0


class NewPresetDialog(QDialog):
    """Name for a preset made from a reference; for video also the frame used as thumbnail."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New scene preset")
        self.is_video = Path(path).suffix.lower() in VIDEO_EXTENSIONS
        self.name_edit = QLineEdit(Path(path).stem.replace("_", " "), self)
        self.frame_spin = QDoubleSpinBox(self)
        self.frame_spin.setRange(0.0, 36000.0)
        self.frame_spin.setDecimals(1)
        self.frame_spin.setSuffix(" s")
        self.frame_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.frame_slider.setRange(0, int(FRAME_SLIDER_MAX_S * 10))
        self.frame_slider.valueChanged.connect(lambda v: self.frame_spin.setValue(v / 10))
        self.frame_spin.valueChanged.connect(lambda v: self.frame_slider.setValue(int(min(v, FRAME_SLIDER_MAX_S) * 10)))
        frame_row = QHBoxLayout()
        frame_row.addWidget(self.frame_slider, 1)
        frame_row.addWidget(self.frame_spin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(QLabel(f"Reference: <b>{Path(path).name}</b>", self))
        form.addRow("Preset name", self.name_edit)
        if self.is_video:
            form.addRow("Thumbnail frame", frame_row)
        form.addRow(buttons)

    def name(self) -> str:
        return self.name_edit.text().strip()

    def frame_s(self) -> float | None:
        return self.frame_spin.value() if self.is_video else None


class BlendDialog(QDialog):
    """Two presets and a weight: 0 % is all A, 100 % all B."""

    def __init__(self, names: list[tuple[str, str]], first_id: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Blend presets")
        self.a_combo, self.b_combo = QComboBox(self), QComboBox(self)
        for pid, name in names:
            self.a_combo.addItem(name, pid)
            self.b_combo.addItem(name, pid)
        if first_id:
            self.a_combo.setCurrentIndex(max(0, self.a_combo.findData(first_id)))
        self.b_combo.setCurrentIndex(1 if self.a_combo.currentIndex() == 0 and len(names) > 1 else 0)
        self.weight_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.weight_slider.setRange(0, 100)
        self.weight_slider.setValue(50)
        self.weight_label = QLabel("50 % B", self)
        self.weight_slider.valueChanged.connect(lambda v: self.weight_label.setText(f"{v} % B"))
        self.name_edit = QLineEdit(self)
        self._auto_name()
        for combo in (self.a_combo, self.b_combo):
            combo.currentIndexChanged.connect(self._auto_name)
        weight_row = QHBoxLayout()
        weight_row.addWidget(self.weight_slider, 1)
        weight_row.addWidget(self.weight_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Preset A", self.a_combo)
        form.addRow("Preset B", self.b_combo)
        form.addRow("Weight", weight_row)
        form.addRow("New name", self.name_edit)
        form.addRow(buttons)

    def _auto_name(self) -> None:
        self.name_edit.setText(f"{self.a_combo.currentText()} + {self.b_combo.currentText()}")

    def values(self) -> tuple[str, str, float, str]:
        return (self.a_combo.currentData(), self.b_combo.currentData(), self.weight_slider.value() / 100,
                self.name_edit.text().strip())

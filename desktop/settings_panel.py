"""Render settings: engine choice, the mixer's controls, and the Preview A/B buttons.

Builds an `engine.Settings` (which validates itself) from the controls and persists them with
QSettings. Engine availability is asked of the engine, never assumed, so the diffusion engine
lights up here by itself once a build ships it.
"""

from __future__ import annotations

from PyQt6.QtCore import QSettings, Qt, pyqtSignal
from PyQt6.QtGui import QStandardItemModel
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

import engine

ENGINE_LABELS = {"match": "Match (DSP)", "diffusion": "Diffusion (neural)"}


def engine_availability(name: str) -> tuple[bool, str]:
    """(usable, reason when not): Settings must accept it and the engine must say it is present."""
    try:
        engine.Settings(engine=name)
    except ValueError as exc:
        return False, str(exc)
    try:
        return engine.engine_status(name)
    except Exception as exc:  # a broken install must not take the settings panel down
        return False, f"the {name} engine cannot start ({exc})"


class SettingsPanel(QWidget):
    preview_requested = pyqtSignal()
    ab_selected = pyqtSignal(str)  # 'A' (original) or 'B' (restyled)
    stop_requested = pyqtSignal()
    changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        defaults = engine.Settings()
        self.engine_combo = QComboBox(self)
        self.availability: dict[str, tuple[bool, str]] = {}
        model = QStandardItemModel(self.engine_combo)
        self.engine_combo.setModel(model)
        for name in engine.ENGINES:
            ok, reason = engine_availability(name)
            self.availability[name] = (ok, reason)
            self.engine_combo.addItem(ENGINE_LABELS.get(name, name) + ("" if ok else " – not available"), name)
            item = model.item(self.engine_combo.count() - 1)
            if not ok:
                item.setEnabled(False)
                item.setToolTip(reason)
        self.engine_combo.setCurrentIndex(self.engine_combo.findData(defaults.engine))
        self.engine_note = QLabel(self)
        self.engine_note.setWordWrap(True)
        self.engine_note.setStyleSheet("color: palette(mid);")
        self.device_label = QLabel(self)

        self.trim_spin = self._dspin(-60, 24, defaults.trim_db, " dB", "Ambience level relative to the scene's own")
        self.wet_spin = self._dspin(-60, 24, defaults.wet_db, " dB", "Reverb level relative to the scene's own")
        self.eq_spin = self._dspin(0, 2, defaults.eq_amount, "", "0 = no colouration, 1 = the scene's EQ, 2 = double")
        self.eq_spin.setSingleStep(0.1)
        self.tail_spin = self._dspin(0, engine.settings.MAX_TAIL_S, defaults.tail_s, " s",
                                     "Extra seconds after the line's end where reverb and ambience ring out "
                                     "(faded at the end); 0 = exactly the input's length")
        self.seed_spin = QSpinBox(self)
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setValue(defaults.seed)
        self.seed_spin.setToolTip("Same seed, input and preset give an identical render")
        self.steps_spin = QSpinBox(self)
        self.steps_spin.setRange(1, 1000)
        self.steps_spin.setValue(defaults.steps)
        self.guidance_spin = self._dspin(0, 30, defaults.guidance, "", "Classifier-free guidance scale")
        for w in (self.trim_spin, self.wet_spin, self.eq_spin, self.tail_spin, self.guidance_spin):
            w.valueChanged.connect(self.changed)
        for w in (self.seed_spin, self.steps_spin):
            w.valueChanged.connect(self.changed)
        self.engine_combo.currentIndexChanged.connect(self._on_engine)
        self._render_on_controls()

        form = QFormLayout()
        form.addRow("Engine", self.engine_combo)
        form.addRow("", self.engine_note)
        form.addRow("Device", self.device_label)
        form.addRow("Ambience trim", self.trim_spin)
        form.addRow("Reverb wet", self.wet_spin)
        form.addRow("EQ amount", self.eq_spin)
        form.addRow("Tail", self.tail_spin)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Guidance", self.guidance_spin)
        form.addRow("Render on", self.render_on_combo)
        form.addRow("", self.ray_address_edit)

        self.preview_button = QPushButton("Preview 10 s", self)
        self.preview_button.setToolTip("Render a 10 s excerpt of the selected queue file with the selected preset")
        self.a_button = QPushButton("A  original", self)
        self.b_button = QPushButton("B  restyled", self)
        self.stop_button = QPushButton("■ Stop", self)
        self.ab_group = QButtonGroup(self)
        for key, b in (("A", self.a_button), ("B", self.b_button)):
            b.setCheckable(True)
            b.setEnabled(False)
            self.ab_group.addButton(b)
            b.clicked.connect(lambda _=False, k=key: self.ab_selected.emit(k))
        self.preview_button.clicked.connect(self.preview_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.preview_label = QLabel("Select a file in the queue, then Preview.", self)
        self.preview_label.setWordWrap(True)
        self.preview_label.setStyleSheet("color: palette(mid);")
        ab_row = QHBoxLayout()
        for b in (self.a_button, self.b_button, self.stop_button):
            ab_row.addWidget(b)
        preview_box = QGroupBox("Preview", self)
        pv = QVBoxLayout(preview_box)
        pv.addWidget(self.preview_button)
        pv.addLayout(ab_row)
        pv.addWidget(self.preview_label)

        box = QGroupBox("Render settings", self)
        box.setLayout(form)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)
        layout.addWidget(preview_box)
        layout.addStretch(1)
        self._on_engine()

    def _dspin(self, lo: float, hi: float, value: float, suffix: str, tip: str) -> QDoubleSpinBox:
        s = QDoubleSpinBox(self)
        s.setRange(lo, hi)
        s.setDecimals(1)
        s.setSingleStep(0.5)
        s.setValue(value)
        s.setSuffix(suffix)
        s.setToolTip(tip)
        return s

    def _render_on_controls(self) -> None:
        """'Render on': this machine, or a Ray cluster at an address (engine.FarmRunner)."""
        self.render_on_combo = QComboBox(self)
        self.render_on_combo.addItem("This machine", "local-machine")
        self.render_on_combo.addItem("Ray cluster", "ray")
        ok, reason = engine.farm_status()
        item = self.render_on_combo.model().item(1)
        if not ok:
            item.setEnabled(False)
            item.setText("Ray cluster – not available")
            item.setToolTip(reason)
        self.ray_address_edit = QLineEdit(self)
        self.ray_address_edit.setPlaceholderText("HOST:PORT of the cluster, or local")
        self.ray_address_edit.setToolTip("The address `ray start --head` printed (e.g. 127.0.0.1:6379), or 'local' "
                                         "to start a cluster of this machine for the run")
        self.render_on_combo.currentIndexChanged.connect(self._on_render_on)
        self.ray_address_edit.textChanged.connect(self.changed)
        self._on_render_on()

    def _on_render_on(self, *_args) -> None:
        self.ray_address_edit.setEnabled(self.render_on_combo.currentData() == "ray")
        self.changed.emit()

    def render_on(self) -> str | None:
        """None for this machine, else the Ray address; raises ValueError (one line) for a bad one."""
        if self.render_on_combo.currentData() != "ray":
            return None
        address = self.ray_address_edit.text().strip() or "local"
        try:
            return engine.check_ray_address(address)
        except engine.RoomtoneError as exc:
            raise ValueError(str(exc).replace("--ray ", "Render on: ", 1)) from None

    def engine_name(self) -> str:
        return self.engine_combo.currentData() or "match"

    def _on_engine(self, *_args) -> None:
        name = self.engine_name()
        diffusion = name == "diffusion"
        for w in (self.steps_spin, self.guidance_spin):
            w.setEnabled(diffusion)
            w.setToolTip("" if diffusion else "Only used by the diffusion engine")
        ok, reason = self.availability.get("diffusion", (False, ""))
        self.engine_note.setText("" if ok else f"Diffusion: {reason}.")
        self.engine_note.setVisible(not ok)
        device = engine.Settings().device
        self.device_label.setText(f"{device.upper()}" + ("" if diffusion else " (the match engine runs on the CPU)"))
        self.changed.emit()

    def settings(self, stems: bool = False) -> engine.Settings:
        """The current controls as engine.Settings; raises ValueError with the engine's reason."""
        return engine.Settings(
            engine=self.engine_name(),
            trim_db=self.trim_spin.value(),
            wet_db=self.wet_spin.value(),
            eq_amount=self.eq_spin.value(),
            tail_s=self.tail_spin.value(),
            seed=self.seed_spin.value(),
            stems=stems,
            steps=self.steps_spin.value(),
            guidance=self.guidance_spin.value(),
        )

    # ------------------------------------------------------------ preview state
    def set_preview_busy(self, busy: bool, text: str = "") -> None:
        self.preview_button.setEnabled(not busy)
        self.preview_button.setText("Rendering preview…" if busy else "Preview 10 s")
        if text:
            self.preview_label.setText(text)

    def set_preview_ready(self, text: str, playing: str = "B") -> None:
        for b in (self.a_button, self.b_button):
            b.setEnabled(True)
        (self.b_button if playing == "B" else self.a_button).setChecked(True)
        self.preview_label.setText(text)

    # ------------------------------------------------------------ persistence
    def save_state(self, qs: QSettings) -> None:
        qs.setValue("settings/engine", self.engine_name())
        qs.setValue("settings/trim_db", self.trim_spin.value())
        qs.setValue("settings/wet_db", self.wet_spin.value())
        qs.setValue("settings/eq_amount", self.eq_spin.value())
        qs.setValue("settings/tail_s", self.tail_spin.value())
        qs.setValue("settings/seed", self.seed_spin.value())
        qs.setValue("settings/steps", self.steps_spin.value())
        qs.setValue("settings/guidance", self.guidance_spin.value())
        qs.setValue("settings/render_on", self.render_on_combo.currentData())
        qs.setValue("settings/ray_address", self.ray_address_edit.text())

    def restore_state(self, qs: QSettings) -> None:
        name = str(qs.value("settings/engine", "match"))
        index = self.engine_combo.findData(name)
        if index >= 0 and self.availability.get(name, (False, ""))[0]:
            self.engine_combo.setCurrentIndex(index)
        self.trim_spin.setValue(qs.value("settings/trim_db", self.trim_spin.value(), type=float))
        self.wet_spin.setValue(qs.value("settings/wet_db", self.wet_spin.value(), type=float))
        self.eq_spin.setValue(qs.value("settings/eq_amount", self.eq_spin.value(), type=float))
        self.tail_spin.setValue(qs.value("settings/tail_s", self.tail_spin.value(), type=float))
        self.seed_spin.setValue(qs.value("settings/seed", self.seed_spin.value(), type=int))
        self.steps_spin.setValue(qs.value("settings/steps", self.steps_spin.value(), type=int))
        self.guidance_spin.setValue(qs.value("settings/guidance", self.guidance_spin.value(), type=float))
        self.ray_address_edit.setText(str(qs.value("settings/ray_address", "")))
        where = self.render_on_combo.findData(str(qs.value("settings/render_on", "local-machine")))
        if where >= 0 and self.render_on_combo.model().item(where).isEnabled():
            self.render_on_combo.setCurrentIndex(where)

"""A preset's scene at a glance: RT60 per band, levels, and the ambience spectrum.

Drawn with QPainter (no plotting library) because the desktop app must stay a light install
and these are two small, fixed-layout charts.
"""

from __future__ import annotations

import math

from PyQt6.QtCore import QPointF, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPainterPath, QPalette, QPen
from PyQt6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine import describe

ACCENT = QColor("#2f7ebd")
ACCENT_FILL = QColor(47, 126, 189, 60)


def _hz_label(hz: float) -> str:
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"


class _Chart(QWidget):
    """Shared frame: title, plot rectangle with margins, grid colours from the palette."""

    title = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(220, 130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.bands: tuple[float, ...] = ()
        self.values: tuple[float, ...] = ()

    def set_data(self, bands_hz: tuple[float, ...], values: tuple[float, ...]) -> None:
        """One value per band (RT60 in s, or level in dB); empty tuples clear the chart."""
        self.bands, self.values = tuple(bands_hz), tuple(values)
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(300, 160)

    def _frame(self, p: QPainter) -> QRectF:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1.5))
        p.setFont(font)
        p.setPen(pal.color(QPalette.ColorRole.Text))
        p.drawText(QRectF(6, 2, self.width() - 12, 16), Qt.AlignmentFlag.AlignLeft, self.title)
        return QRectF(38, 22, max(10, self.width() - 48), max(10, self.height() - 42))

    def _grid_pen(self) -> QPen:
        c = self.palette().color(QPalette.ColorRole.Mid)
        c.setAlpha(110)
        return QPen(c, 1, Qt.PenStyle.DotLine)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        plot = self._frame(p)
        if self.values:
            self._plot(p, plot)
        else:
            self._empty(p, plot)

    def _plot(self, p: QPainter, plot: QRectF) -> None:
        raise NotImplementedError

    def _empty(self, p: QPainter, plot: QRectF) -> None:
        p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no preset selected")


class RT60Chart(_Chart):
    title = "Reverberation time RT60 (s) per octave"

    def _plot(self, p: QPainter, plot: QRectF) -> None:
        step = next(s for s in (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0) if max(self.values) / s <= 5)
        ticks = math.ceil(max(self.values) / step - 1e-9) or 1
        top = step * ticks
        text = self.palette().color(QPalette.ColorRole.Text)
        for k in range(ticks + 1):
            v = step * k
            y = plot.bottom() - plot.height() * v / top
            p.setPen(self._grid_pen())
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.setPen(text)
            p.drawText(QRectF(0, y - 8, plot.left() - 4, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       f"{v:g}")
        n = len(self.values)
        slot = plot.width() / n
        for i, (hz, v) in enumerate(zip(self.bands, self.values)):
            h = plot.height() * min(v, top) / top
            bar = QRectF(plot.left() + i * slot + slot * 0.18, plot.bottom() - h, slot * 0.64, h)
            p.fillRect(bar, ACCENT)
            p.setPen(text)
            p.drawText(QRectF(plot.left() + i * slot, plot.bottom() + 2, slot, 16), Qt.AlignmentFlag.AlignHCenter,
                       _hz_label(hz))


class SpectrumChart(_Chart):
    title = "Ambience spectrum (dB per third octave)"

    def _plot(self, p: QPainter, plot: QRectF) -> None:
        text = self.palette().color(QPalette.ColorRole.Text)
        hi = math.ceil(max(self.values) / 10) * 10
        lo = min(hi - 30, max(hi - 80, math.floor(min(self.values) / 10) * 10))  # deep notches clip
        f_lo, f_hi = math.log10(self.bands[0]), math.log10(self.bands[-1])

        def x(hz: float) -> float:
            return plot.left() + plot.width() * (math.log10(hz) - f_lo) / max(f_hi - f_lo, 1e-9)

        def y(db: float) -> float:
            return plot.bottom() - plot.height() * (min(max(db, lo), hi) - lo) / (hi - lo)

        step = 10 if hi - lo <= 60 else 20
        for db in range(math.ceil(lo / step) * step, int(hi) + 1, step):
            p.setPen(self._grid_pen())
            p.drawLine(QPointF(plot.left(), y(db)), QPointF(plot.right(), y(db)))
            p.setPen(text)
            p.drawText(QRectF(0, y(db) - 8, plot.left() - 4, 16),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{db}")
        for hz in (100, 1000, 10000):
            if self.bands[0] <= hz <= self.bands[-1]:
                p.setPen(self._grid_pen())
                p.drawLine(QPointF(x(hz), plot.top()), QPointF(x(hz), plot.bottom()))
                p.setPen(text)
                p.drawText(QRectF(x(hz) - 20, plot.bottom() + 2, 40, 16), Qt.AlignmentFlag.AlignHCenter,
                           _hz_label(hz))
        line = QPainterPath(QPointF(x(self.bands[0]), y(self.values[0])))
        for hz, db in zip(self.bands[1:], self.values[1:]):
            line.lineTo(x(hz), y(db))
        fill = QPainterPath(line)
        fill.lineTo(x(self.bands[-1]), plot.bottom())
        fill.lineTo(x(self.bands[0]), plot.bottom())
        fill.closeSubpath()
        p.fillPath(fill, ACCENT_FILL)
        p.setPen(QPen(ACCENT, 2))
        p.drawPath(line)


class SceneProfileView(QWidget):
    """Numbers a mixer reads first (RT60 at 500 Hz-1 kHz, DRR, ambience level) plus the two charts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name_label = QLabel("<i>Select a preset</i>", self)
        self.rt60_label = QLabel("–", self)
        self.drr_label = QLabel("–", self)
        self.ambience_label = QLabel("–", self)
        self.source_label = QLabel("–", self)
        self.source_label.setWordWrap(True)
        self.rt60_chart = RT60Chart(self)
        self.spectrum_chart = SpectrumChart(self)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        for row, (label, widget) in enumerate((("RT60 at 1 kHz", self.rt60_label), ("Direct / reverb", self.drr_label),
                                               ("Ambience level", self.ambience_label),
                                               ("Source", self.source_label))):
            grid.addWidget(QLabel(label, self), row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(widget, row, 1)
        grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.name_label)
        layout.addLayout(grid)
        layout.addWidget(self.rt60_chart, 1)
        layout.addWidget(self.spectrum_chart, 1)

    def show_preset(self, preset) -> None:
        if preset is None:
            self.name_label.setText("<i>Select a preset</i>")
            for lab in (self.rt60_label, self.drr_label, self.ambience_label, self.source_label):
                lab.setText("–")
            self.rt60_chart.set_data((), ())
            self.spectrum_chart.set_data((), ())
            return
        prof = preset.profile
        self.name_label.setText(f"<b>{preset.name}</b>" + (" <small>(factory)</small>" if preset.factory else ""))
        self.name_label.setToolTip(describe.preset_summary(preset))
        # the numbers of describe.preset_summary, the CLI's wording, one per row
        self.rt60_label.setText(f"{describe.rt60_s(prof):.2f} s")
        self.drr_label.setText(f"{prof.drr_db:+.1f} dB")
        self.ambience_label.setText(f"{prof.ambience_to_speech_db:+.1f} dB {describe.AMBIENCE_REFERENCE}")
        src = preset.source or {}
        text = str(src.get("file") or src.get("kind") or "–")
        if "frame_s" in src:
            text += f" (frame at {src['frame_s']:g} s)"
        if describe.estimator(preset):
            text += f", estimator {describe.estimator(preset)}"
        self.source_label.setText(str(text))
        self.rt60_chart.set_data(prof.bands_hz, prof.rt60_s)
        self.spectrum_chart.set_data(prof.eq_bands_hz, prof.ambience_spectrum_db)

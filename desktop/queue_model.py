"""The render queue as a Qt table model: one row per input file, its format and its fate.

Rows are filled from `engine.probe` so the user sees rate, channels and length before
committing hours of rendering; status and progress are updated from the batch worker's events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, Qt

import engine

COLUMNS = ("File", "Format", "Rate", "Ch", "Duration", "Status", "Progress")
COL_FILE, COL_FORMAT, COL_RATE, COL_CHANNELS, COL_DURATION, COL_STATUS, COL_PROGRESS = range(len(COLUMNS))

#: Role for the 0..1 progress value, read by the progress delegate.
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 1

PENDING, QUEUED, RUNNING, DONE, SKIPPED, FAILED, CANCELLED = (
    "pending", "queued", "rendering", "done", "skipped", "failed", "cancelled",
)


@dataclass
class QueueItem:
    """One input: where it came from (for mirroring folders), what it is, how it went."""

    path: Path
    info: Any  # engine.AudioInfo
    rel_dir: Path = Path()  # sub-folder under the dropped folder, mirrored in the output folder
    status: str = PENDING
    progress: float = 0.0
    error: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


def format_duration(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60.0)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


class QueueModel(QAbstractTableModel):
    """Owns the queue's rows; views and the batch controller go through it."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._items: list[QueueItem] = []

    # ------------------------------------------------------------ Qt model API
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._items[index.row()]
        col = index.column()
        info = item.info
        if role == Qt.ItemDataRole.DisplayRole:
            if col == COL_FILE:
                return str(item.rel_dir / item.path.name)
            if col == COL_FORMAT:
                return f"{info.container} {info.subtype.replace('PCM_', '')}"
            if col == COL_RATE:
                return f"{info.sample_rate_hz / 1000:g} kHz"
            if col == COL_CHANNELS:
                return str(info.channels)
            if col == COL_DURATION:
                return format_duration(info.duration_s)
            if col == COL_STATUS:
                return item.status
            if col == COL_PROGRESS:
                return f"{round(item.progress * 100)} %"
        if role == PROGRESS_ROLE and col == COL_PROGRESS:
            return item.progress
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_STATUS and item.error:
                return item.error
            return str(item.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_RATE, COL_CHANNELS, COL_DURATION):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    # ------------------------------------------------------------ queue API
    def items(self) -> list[QueueItem]:
        return list(self._items)

    def item(self, row: int) -> QueueItem:
        return self._items[row]

    def contains(self, path: Path) -> bool:
        return any(i.path == path for i in self._items)

    def add(self, item: QueueItem) -> None:
        row = len(self._items)
        self.beginInsertRows(QModelIndex(), row, row)
        self._items.append(item)
        self.endInsertRows()

    def remove_rows(self, rows: list[int]) -> None:
        for row in sorted(set(rows), reverse=True):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._items[row]
            self.endRemoveRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._items.clear()
        self.endResetModel()

    def row_of(self, path: str | Path) -> int:
        p = Path(path)
        return next((r for r, i in enumerate(self._items) if i.path == p), -1)

    def update(self, row: int, **changes: Any) -> None:
        item = self._items[row]
        for key, value in changes.items():
            setattr(item, key, value)
        self.dataChanged.emit(self.index(row, COL_STATUS), self.index(row, COL_PROGRESS))

    def overall_progress(self, rows: list[int]) -> float:
        """Mean progress of the rows in the current run; every file counts the same."""
        if not rows:
            return 0.0
        return sum(self._items[r].progress for r in rows if r < len(self._items)) / len(rows)

    def rows_with_status(self, *statuses: str) -> list[int]:
        return [r for r, i in enumerate(self._items) if i.status in statuses]

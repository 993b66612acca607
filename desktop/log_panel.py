"""The log: every refusal and failure as one row naming the file and the reason.

Batch work runs unattended, so problems must stay visible after the fact rather than flash by
in a dialog; the status bar only mirrors the latest line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget


@dataclass(frozen=True)
class LogEntry:
    time: str
    level: str  # 'info' | 'warning' | 'error'
    file: str
    message: str


class LogModel(QAbstractTableModel):
    COLUMNS = ("Time", "Level", "File", "Message")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.entries: list[LogEntry] = []

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = self.entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (e.time, e.level, Path(e.file).name if e.file else "", e.message)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{e.file}\n{e.message}" if e.file else e.message
        if role == Qt.ItemDataRole.ForegroundRole and e.level == "error":
            return QColor("#b3261e")
        if role == Qt.ItemDataRole.ForegroundRole and e.level == "warning":
            return QColor("#8a5a00")
        return None

    def append(self, entry: LogEntry) -> None:
        row = len(self.entries)
        self.beginInsertRows(QModelIndex(), row, row)
        self.entries.append(entry)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.entries.clear()
        self.endResetModel()

    def errors(self) -> list[LogEntry]:
        return [e for e in self.entries if e.level == "error"]


class LogPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = LogModel(self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.verticalHeader().hide()
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.view.verticalHeader().setDefaultSectionSize(22)
        clear = QPushButton("Clear log", self)
        clear.clicked.connect(self.model.clear)
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>Log</b>"))
        top.addStretch(1)
        top.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view)

    def add(self, level: str, file: str | Path, message: str) -> LogEntry:
        entry = LogEntry(datetime.now().strftime("%H:%M:%S"), level, str(file or ""), message)
        self.model.append(entry)
        self.view.scrollToBottom()
        return entry

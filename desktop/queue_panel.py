"""The render queue: drop files and folders, see what they are, start/cancel/retry a batch.

Only shows the QueueModel and forwards intent (start, cancel, retry) as signals; the batch
itself is run by BatchController. Files are probed with `engine.probe` when dropped, so an
unreadable or non-audio file is refused at the door with a reason in the log, not hours later.
"""

from __future__ import annotations

import os
from pathlib import Path

from PyQt6.QtCore import QSettings, Qt, QUrl, pyqtSignal
from PyQt6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

import engine
from desktop.queue_model import COL_FILE, COL_PROGRESS, FAILED, PROGRESS_ROLE, QueueItem, QueueModel

DEFAULT_TEMPLATE = "{stem}_scene"


class ProgressDelegate(QStyledItemDelegate):
    """Draws a row's progress as a native progress bar inside its cell."""

    def paint(self, painter, option, index) -> None:
        value = index.data(PROGRESS_ROLE)
        if value is None:
            return super().paint(painter, option, index)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(round(float(value) * 1000))
        bar.text = f"{round(float(value) * 100)} %"
        bar.textVisible = True
        bar.state = option.state
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class QueuePanel(QWidget):
    start_requested = pyqtSignal()
    cancel_requested = pyqtSignal()
    retry_requested = pyqtSignal()
    log = pyqtSignal(str, str, str)  # level, file, message
    current_changed = pyqtSignal(object)  # Path of the selected file, or None

    def __init__(self, model: QueueModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.model = model or QueueModel(self)
        self._running = False

        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(COL_PROGRESS, ProgressDelegate(self.view))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.setWordWrap(False)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_FILE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(COL_PROGRESS, 110)
        self.view.selectionModel().currentRowChanged.connect(self._on_current)
        self.hint = QLabel("Drop dialogue files or folders here (WAV, BWF, AIFF, FLAC)", self)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("color: palette(mid); padding: 6px;")

        self.add_files_button = QPushButton("Add files…", self)
        self.add_folder_button = QPushButton("Add folder…", self)
        self.remove_button = QPushButton("Remove", self)
        self.clear_button = QPushButton("Clear", self)
        self.add_files_button.clicked.connect(self._browse_files)
        self.add_folder_button.clicked.connect(self._browse_folder)
        self.remove_button.clicked.connect(self._remove_selected)
        self.clear_button.clicked.connect(self.model.clear)

        self.out_dir_edit = QLineEdit("~/Roomtone renders", self)
        self.out_dir_button = QPushButton("Choose…", self)
        self.out_dir_button.clicked.connect(self._browse_out_dir)
        self.template_edit = QLineEdit(DEFAULT_TEMPLATE, self)
        self.template_edit.setToolTip("Output file name; {stem} is the input's name without extension")
        self.stems_check = QCheckBox("Also write dialogue / reverb / ambience stems", self)

        self.progress_bar = QProgressBar(self)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFormat("%p %")
        self.progress_bar.setValue(0)
        self.start_button = QPushButton("Start", self)
        self.start_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.retry_button = QPushButton("Retry failed", self)
        self.open_button = QPushButton("Open output folder", self)
        self.start_button.clicked.connect(self.start_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.retry_button.clicked.connect(self.retry_requested)
        self.open_button.clicked.connect(self.open_output_folder)

        tools = QHBoxLayout()
        tools.addWidget(QLabel("<b>Queue</b>"))
        tools.addStretch(1)
        for b in (self.add_files_button, self.add_folder_button, self.remove_button, self.clear_button):
            tools.addWidget(b)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_dir_edit, 1)
        out_row.addWidget(self.out_dir_button)
        form = QFormLayout()
        form.addRow("Output folder", out_row)
        form.addRow("Naming", self.template_edit)
        form.addRow("", self.stems_check)
        run_row = QHBoxLayout()
        run_row.addWidget(self.progress_bar, 1)
        for b in (self.start_button, self.cancel_button, self.retry_button, self.open_button):
            run_row.addWidget(b)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(tools)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.hint)
        layout.addLayout(form)
        layout.addLayout(run_row)
        self.model.rowsInserted.connect(self._refresh)
        self.model.rowsRemoved.connect(self._refresh)
        self.model.modelReset.connect(self._refresh)
        self.model.dataChanged.connect(self._refresh)
        self._refresh()

    # ------------------------------------------------------------ adding inputs
    def add_paths(self, paths: list[str | Path]) -> int:
        """What a drop does: walk folders, probe every file, queue the good ones, log the rest.

        Returns the number of files queued.
        """
        added = 0
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                for file, rel in _walk(path):
                    added += self._add_file(file, rel)
            else:
                added += self._add_file(path, Path())
        return added

    def _add_file(self, path: Path, rel_dir: Path) -> int:
        if path.suffix.lower() not in engine.AUDIO_EXTENSIONS:
            kind = f"'{path.suffix}' file" if path.suffix else "file without extension"
            self.log.emit("error", str(path), f"refused: not an audio file ({kind}); "
                                              f"Roomtone reads {', '.join(sorted(engine.AUDIO_EXTENSIONS))}")
            return 0
        if self.model.contains(path):
            self.log.emit("info", str(path), "already in the queue")
            return 0
        try:
            info = engine.probe(path)
        except engine.InputError as exc:
            self.log.emit("error", str(path), f"refused: {exc.reason}")
            return 0
        except OSError as exc:
            self.log.emit("error", str(path), f"refused: cannot read ({exc.strerror or exc})")
            return 0
        self.model.add(QueueItem(path=path, info=info, rel_dir=rel_dir))
        return 1

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and not self._running:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        local = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
        for u in urls:
            if not u.isLocalFile():
                self.log.emit("error", u.toString(), "refused: not a local file")
        if local:
            self.add_paths(local)
        event.acceptProposedAction()

    def _browse_files(self) -> None:
        pattern = " ".join(f"*{e}" for e in sorted(engine.AUDIO_EXTENSIONS))
        files, _ = QFileDialog.getOpenFileNames(self, "Add dialogue files", "", f"Audio ({pattern});;All files (*)")
        self.add_paths(files)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of dialogue")
        if folder:
            self.add_paths([folder])

    def _browse_out_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.out_dir_edit.text())
        if folder:
            self.out_dir_edit.setText(folder)

    def _remove_selected(self) -> None:
        self.model.remove_rows([i.row() for i in self.view.selectionModel().selectedRows()])

    # ------------------------------------------------------------ state shown
    def out_dir(self) -> Path:
        return Path(self.out_dir_edit.text().strip()).expanduser()

    def name_template(self) -> str:
        return self.template_edit.text().strip() or "{stem}"

    def stems(self) -> bool:
        return self.stems_check.isChecked()

    def current_path(self) -> Path | None:
        row = self.view.currentIndex().row()
        if 0 <= row < self.model.rowCount():
            return self.model.item(row).path
        return self.model.item(0).path if self.model.rowCount() else None

    def set_running(self, running: bool) -> None:
        self._running = running
        self._refresh()

    def set_overall_progress(self, fraction: float) -> None:
        self.progress_bar.setValue(int(round(fraction * 1000)))

    def open_output_folder(self) -> bool:
        folder = self.out_dir()
        if not folder.is_dir():
            self.log.emit("error", str(folder), "the output folder does not exist yet; start a render first")
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _on_current(self, current, _previous) -> None:
        self.current_changed.emit(self.current_path())

    def _refresh(self, *_args) -> None:
        has_rows = self.model.rowCount() > 0
        idle = not self._running
        self.hint.setVisible(not has_rows)
        self.start_button.setEnabled(idle and has_rows)
        self.cancel_button.setEnabled(self._running)
        self.retry_button.setEnabled(idle and bool(self.model.rows_with_status(FAILED)))
        for w in (self.remove_button, self.clear_button, self.add_files_button, self.add_folder_button,
                  self.out_dir_edit, self.out_dir_button, self.template_edit, self.stems_check):
            w.setEnabled(idle)

    # ------------------------------------------------------------ persistence
    def save_state(self, qs: QSettings) -> None:
        qs.setValue("queue/out_dir", self.out_dir_edit.text())
        qs.setValue("queue/template", self.template_edit.text())
        qs.setValue("queue/stems", self.stems_check.isChecked())

    def restore_state(self, qs: QSettings) -> None:
        self.out_dir_edit.setText(str(qs.value("queue/out_dir", self.out_dir_edit.text())))
        self.template_edit.setText(str(qs.value("queue/template", self.template_edit.text())))
        self.stems_check.setChecked(qs.value("queue/stems", False, type=bool))


def _walk(folder: Path) -> list[tuple[Path, Path]]:
    """Every visible file under `folder`, with its sub-folder relative to it (sorted, stable)."""
    found: list[tuple[Path, Path]] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = Path(root).relative_to(folder)
        found.extend((Path(root) / f, rel) for f in sorted(files) if not f.startswith("."))
    return found

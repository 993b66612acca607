"""Dropping files and folders on the queue: probed rows for audio, refusals in the log."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PyQt6.QtGui import QDragEnterEvent, QDropEvent
from PyQt6.QtWidgets import QApplication

from desktop.queue_model import COL_CHANNELS, COL_FILE, COL_FORMAT, COL_RATE, COL_STATUS
from tests.conftest import write_tone
from tests.desktop.conftest import log_errors


def _row(model, row: int) -> dict[str, str]:
    return {name: model.index(row, col).data() for name, col in
            (("file", COL_FILE), ("format", COL_FORMAT), ("rate", COL_RATE), ("ch", COL_CHANNELS),
             ("status", COL_STATUS))}


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "reel1"
    write_tone(folder / "a_line.wav", 0.5, rate=48000, channels=1, subtype="PCM_24")
    write_tone(folder / "sub" / "b_line.flac", 0.5, rate=44100, channels=2, subtype="PCM_16")
    write_tone(folder / "sub" / "c_line.aiff", 0.5, rate=96000, channels=1, subtype="PCM_24")
    (folder / "notes.txt").write_text("not audio")
    return folder


def test_dropping_a_folder_fills_the_queue_with_probed_rows(window, tmp_path):
    panel, model = window.queue_panel, window.queue_model
    assert panel.add_paths([_folder(tmp_path)]) == 3
    rows = [_row(model, r) for r in range(model.rowCount())]
    assert rows == [
        {"file": "a_line.wav", "format": "WAV 24", "rate": "48 kHz", "ch": "1", "status": "pending"},
        {"file": "sub/b_line.flac", "format": "FLAC 16", "rate": "44.1 kHz", "ch": "2", "status": "pending"},
        {"file": "sub/c_line.aiff", "format": "AIFF 24", "rate": "96 kHz", "ch": "1", "status": "pending"},
    ]
    assert model.item(1).info.channels == 2 and model.item(1).rel_dir == Path("sub")
    errors = log_errors(window)
    assert [Path(e.file).name for e in errors] == ["notes.txt"]
    assert "not an audio file" in errors[0].message
    assert panel.start_button.isEnabled()
    # dropping the same folder again adds nothing twice
    assert panel.add_paths([tmp_path / "reel1"]) == 0
    assert model.rowCount() == 3


def test_a_real_drop_event_with_urls_queues_the_files(window, tmp_path):
    folder = _folder(tmp_path)
    single = write_tone(tmp_path / "loose.wav", 0.5, rate=32000, channels=1, subtype="PCM_16")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder)), QUrl.fromLocalFile(str(single))])
    panel = window.queue_panel
    # Qt only delivers a drop to a widget that accepted the drag entering it, as a real drag does
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(panel, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(panel, drop)
    assert drop.isAccepted()
    model = window.queue_model
    assert model.rowCount() == 4
    assert _row(model, 3) == {"file": "loose.wav", "format": "WAV 16", "rate": "32 kHz", "ch": "1", "status": "pending"}


def test_invalid_drops_are_refused_with_a_reason_in_the_log(window, tmp_path):
    text = tmp_path / "script.pdf"
    text.write_bytes(b"%PDF-1.4 not audio")
    corrupt = tmp_path / "broken.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    missing = tmp_path / "gone.wav"
    panel = window.queue_panel
    assert panel.add_paths([text, corrupt, missing]) == 0
    assert window.queue_model.rowCount() == 0
    errors = {Path(e.file).name: e.message for e in log_errors(window)}
    assert set(errors) == {"script.pdf", "broken.wav", "gone.wav"}
    assert all(m.startswith("refused") for m in errors.values())
    assert "not an audio file" in errors["script.pdf"]
    assert not panel.start_button.isEnabled()
    # the status bar mirrors the latest refusal
    assert "gone.wav" in window.statusBar().currentMessage()

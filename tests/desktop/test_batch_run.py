"""Rendering the queue from the GUI: real engine, real files, worker off the UI thread."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf
from PyQt6.QtCore import Qt, QTimer

from desktop.queue_model import CANCELLED, DONE, FAILED
from tests.conftest import write_tone
from tests.desktop.conftest import log_errors, write_speech_like

AUDIO = {".wav", ".flac", ".aiff"}


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in AUDIO)


def _leftovers(folder: Path) -> list[Path]:
    """Anything that is neither the manifest nor a finished output: partial/temp files."""
    return [p for p in folder.rglob("*") if p.is_file() and "partial" in p.name]


def _prepare(window, tmp_path: Path, inputs: list[Path], expect: int | None = None) -> Path:
    out = tmp_path / "renders"
    window.queue_panel.out_dir_edit.setText(str(out))
    window.queue_panel.template_edit.setText("{stem}_scene")
    assert window.queue_panel.add_paths(inputs) == (len(inputs) if expect is None else expect)
    return out


def test_start_renders_every_file_and_reaches_100_percent(window, qtbot, tmp_path):
    src = tmp_path / "dialogue"
    a = write_speech_like(src / "sc01_a.wav", 3.0, rate=48000, channels=1)
    b = write_speech_like(src / "pickups" / "sc01_b.flac", 2.0, rate=44100, channels=2, subtype="PCM_16")
    out = _prepare(window, tmp_path, [src], expect=2)
    window.queue_panel.stems_check.setChecked(True)
    with qtbot.waitSignal(window.batch.finished, timeout=30000) as blocker:
        qtbot.mouseClick(window.queue_panel.start_button, Qt.MouseButton.LeftButton)
    reports = blocker.args[0]
    assert [r.count("done") for r in reports] == [1, 1]
    assert window.queue_panel.progress_bar.value() == 1000
    assert [i.status for i in window.queue_model.items()] == [DONE, DONE]
    assert [i.progress for i in window.queue_model.items()] == [1.0, 1.0]
    # the dropped folder's structure is mirrored; stems next to the mix
    mix_a, mix_b = out / "sc01_a_scene.wav", out / "pickups" / "sc01_b_scene.flac"
    assert mix_a.is_file() and mix_b.is_file()
    assert (out / "sc01_a_scene.reverb.wav").is_file()
    assert sf.info(mix_a).frames == sf.info(a).frames and sf.info(mix_b).channels == 2
    assert sf.info(mix_b).samplerate == sf.info(b).samplerate
    assert not log_errors(window)
    assert window.queue_panel.start_button.isEnabled() and not window.queue_panel.cancel_button.isEnabled()


def test_cancel_on_first_progress_stops_with_no_partial_files(window, qtbot, tmp_path):
    files = [write_speech_like(tmp_path / "in" / f"long_{k}.wav", 40.0) for k in range(2)]
    out = _prepare(window, tmp_path, files)
    seen: list[str] = []

    def on_event(ev) -> None:
        seen.append(ev.kind)
        if ev.kind == "file-progress" and window.queue_panel.cancel_button.isEnabled():
            qtbot.mouseClick(window.queue_panel.cancel_button, Qt.MouseButton.LeftButton)

    window.batch.event.connect(on_event)
    with qtbot.waitSignal(window.batch.finished, timeout=30000) as blocker:
        assert window.start_batch()
    reports = blocker.args[0]
    assert reports[0].cancelled and reports[0].count("done") == 0
    assert "file-progress" in seen and "file-done" not in seen
    assert [i.status for i in window.queue_model.items()] == [CANCELLED, CANCELLED]
    assert _audio_files(out) == [] and _leftovers(out) == []
    assert window.queue_panel.progress_bar.value() < 1000
    assert not window.batch.running


def test_ui_stays_responsive_while_rendering(window, qtbot, tmp_path):
    files = [write_speech_like(tmp_path / "in" / "long.wav", 60.0)]
    _prepare(window, tmp_path, files)
    ticks_while_running: list[int] = []
    timer = QTimer(window)
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks_while_running.append(1) if window.batch.running else None)
    timer.start()
    with qtbot.waitSignal(window.batch.finished, timeout=60000):
        assert window.start_batch()
    timer.stop()
    assert window.queue_model.item(0).status == DONE
    assert len(ticks_while_running) >= 5  # the event loop kept turning while the worker rendered


def test_failed_file_is_logged_and_retry_renders_it(window, qtbot, tmp_path):
    good = write_tone(tmp_path / "in" / "good.wav", 1.0)
    flaky = write_tone(tmp_path / "in" / "flaky.wav", 1.0)
    out = _prepare(window, tmp_path, [good, flaky])
    flaky.write_bytes(b"RIFF garbage, the drive went away")  # becomes unreadable after queueing
    with qtbot.waitSignal(window.batch.finished, timeout=30000):
        qtbot.mouseClick(window.queue_panel.start_button, Qt.MouseButton.LeftButton)
    items = window.queue_model.items()
    assert [i.status for i in items] == [DONE, FAILED]
    errors = [e for e in log_errors(window) if e.file == str(flaky)]
    assert errors and errors[0].message
    assert window.queue_panel.retry_button.isEnabled()

    write_tone(flaky, 1.0)
    with qtbot.waitSignal(window.batch.finished, timeout=30000) as blocker:
        qtbot.mouseClick(window.queue_panel.retry_button, Qt.MouseButton.LeftButton)
    assert [r.count("done") for r in blocker.args[0]] == [1]
    assert [i.status for i in window.queue_model.items()] == [DONE, DONE]
    assert (out / "flaky_scene.wav").is_file()


def test_closing_during_a_render_asks_cancels_and_leaves_nothing_partial(window, qtbot, tmp_path):
    files = [write_speech_like(tmp_path / "in" / "long.wav", 60.0)]
    out = _prepare(window, tmp_path, files)
    asked: list[str] = []
    window.confirm = lambda title, text: asked.append(text) or False
    assert window.start_batch()
    qtbot.waitUntil(lambda: window.queue_model.item(0).progress > 0, timeout=20000)
    assert not window.close()  # the user said no: keeps running
    assert asked and window.batch.running
    window.confirm = lambda title, text: True
    assert window.close()
    assert not window.batch.running and window.batch.task.token.cancelled
    assert _audio_files(out) == [] and _leftovers(out) == []
